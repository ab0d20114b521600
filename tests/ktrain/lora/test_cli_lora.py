"""``kcli train lora`` and ``kcli generate`` as a user runs them: JSON out, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import kcli
from tests.helpers.manifests import write_rows
from tests.ktrain.lora.helpers import food_rows


def test_train_lora_with_a_wrong_caption_column_is_a_one_line_error(tmp_path: Path) -> None:
    manifest = write_rows(tmp_path / "m", food_rows())
    done = kcli("train", "lora", "--manifest", str(manifest.path), "--base", "tiny-sd", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no caption column 'caption_ko'; choose one with --caption-col" in lines[0]


@pytest.mark.slow
def test_train_then_generate_from_the_command_line(tmp_path: Path) -> None:
    manifest = write_rows(tmp_path / "m", food_rows()[:2])
    out, images = tmp_path / "lora", tmp_path / "images"
    done = kcli("train", "lora", "--manifest", str(manifest.path), "--base", "tiny-sd", "--caption-col", "title",
                "--out", str(out), "--resolution", "64", "--max-steps", "2", "--batch-size", "2", "--rank", "4",
                "--set", "bucket_step=16", "--set", "validation_prompts=[]", "--set", f"cache_dir='{tmp_path}/c'",
                "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["steps"] == 2 and len(result["losses"]) == 2 and result["data"]["used"] == 2
    assert Path(result["files"]["kohya"]).exists() and Path(result["files"]["diffusers"]).exists()
    done = kcli("generate", "비빔밥 한 그릇", "--base", "tiny-sd", "--lora", f"{out}:0.9", "--out", str(images),
                "--steps", "2", "--seed", "5", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout)
    assert [(r["prompt"], r["seed"]) for r in rows] == [("비빔밥 한 그릇", 5)]
    sidecar = json.loads(Path(rows[0]["sidecar"]).read_text(encoding="utf-8"))
    assert sidecar["loras"][0]["weight"] == 0.9 and sidecar["loras"][0]["path"] == str(out)
