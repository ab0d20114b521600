"""The demo end to end, as a user runs it: every stage the project has, offline, on tiny presets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kdata.manifest import open_manifest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    workdir = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "cli", "demo", "--workdir", str(workdir), "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir, json.loads(done.stdout)


def test_demo_runs_every_step_and_writes_a_summary(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, steps = demo_run
    names = [s["step"] for s in steps]
    assert names[:3] == ["samples", "verify", "inspect"]
    assert json.loads((workdir / "summary.json").read_text()) == steps
    for step in steps:
        assert Path(step["output"]).exists(), step


def test_demo_manifests_keep_every_sample_row_and_lineage(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, _ = demo_run
    verified = open_manifest(workdir / "02-verified")
    assert verified.num_rows == 22
    assert [s["stage"] for s in verified.lineage_chain] == ["verify", "samples"]


def test_demo_rerun_resumes_without_redoing_work(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, steps = demo_run
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "cli", "demo", "--workdir", str(workdir), "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    again = {s["step"]: s for s in json.loads(done.stdout)}
    assert again["verify"]["stats"] == {s["step"]: s for s in steps}["verify"]["stats"]


def test_demo_runs_every_tiny_preset_offline(demo_run: tuple[Path, list[dict]]) -> None:
    from PIL import Image

    workdir, _ = demo_run
    report = json.loads((workdir / "presets" / "presets.json").read_text())
    assert set(report["built"]) == {"tiny-clip", "tiny-open-clip", "tiny-sd", "tiny-captioner",
                                    "tiny-translator-en-ko", "tiny-translator-ko-en"}
    outputs = report["outputs"]
    assert len(outputs["clip"]["similarity"]) == 2 and all(-1 <= v <= 1 for row in outputs["clip"]["similarity"]
                                                            for v in row)
    assert Image.open(outputs["stable_diffusion"]["image"]).size == (64, 64)
    assert isinstance(outputs["captioner"]["caption"], str) and outputs["captioner"]["caption"]
    assert isinstance(outputs["translator"]["en"], str)


def test_demo_filter_scopes_ink_paintings_and_rejects_duplicate_and_blur(demo_run: tuple[Path, list[dict]]) -> None:
    workdir, steps = demo_run
    filtered = open_manifest(workdir / "04-filtered")
    rows = {r["key"]: r for r in filtered.read_table(["key", "status", "reason", "duplicate_of", "category",
                                                      "clip_score", "aesthetic_score", "nsfw_score"]).to_pylist()}
    assert len(rows) == 22 and [s["stage"] for s in filtered.lineage_chain][:2] == ["filter", "verify"]
    small = rows["hanbok-00-small"]
    assert (small["status"], small["reason"]) == ("rejected", "duplicate_of=hanbok-00")
    assert rows["hanbok-00-small"]["duplicate_of"] == "hanbok-00" and rows["hanbok-00"]["status"] == "ok"
    assert (rows["hanok-12-blurred"]["status"], rows["hanok-12-blurred"]["reason"]) == ("rejected", "blur")
    inks = [r for r in rows.values() if r["category"] == "ink_painting"]
    assert len(inks) == 6 and all(r["status"] == "ok" for r in inks)
    assert all(r["clip_score"] is not None and r["aesthetic_score"] is not None and r["nsfw_score"] is not None
               for r in rows.values())
    report = workdir / "04-filtered" / "report"
    assert (report / "index.html").exists() and (report / "hist_clip_score.png").exists()
    assert {s["step"]: s for s in steps}["filter"]["report"] == str(report)
