"""``kcli report`` / ``kcli view``: the page's files, its embedded rows, and serving it on 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from kdata.errors import ManifestError
from kdata.manifest import Manifest
from kdata.report import write_report
from tests.helpers.cli import kcli, kcli_popen
from tests.publish.manifests import FAILED, REJECTED, write_filtered_manifest


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return write_filtered_manifest(tmp_path_factory.mktemp("report") / "manifests")


def embedded_data(index: Path) -> dict:
    html = index.read_text(encoding="utf-8")
    match = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_report_writes_page_thumbnails_histograms_and_rows(manifest: Manifest, tmp_path: Path) -> None:
    result = write_report(manifest.path, tmp_path / "report")
    root = result.path
    assert (result.rows, result.shown) == (22, 22)
    assert result.histograms == ["hist/clip_score.png", "hist/aesthetic_score.png"]
    for name in ("index.html", "report.css", "report.js", *result.histograms):
        assert (root / name).stat().st_size > 0, name
    assert (root / "hist" / "clip_score.png").read_bytes()[:4] == b"\x89PNG"
    data = embedded_data(result.index)
    assert data["facets"] == ["status", "reason", "source", "category"]
    assert {"clip_score", "aesthetic_score", "width", "height"} <= set(data["sort_columns"])
    items = {item["key"]: item for item in data["items"]}
    assert {k for k, i in items.items() if i["reason"] == "blurry"} == {k for k, r in REJECTED.items() if r == "blurry"}
    assert items["food-19"]["reason"] == "duplicate_of" and items["food-19"]["reason_full"] == "duplicate_of=food-18"
    failed = next(iter(FAILED))
    assert items[failed]["status"] == "failed" and items[failed]["thumb"] is None  # its bytes do not decode
    thumbs = sorted((root / "thumbs").glob("*.jpg"))
    assert len(thumbs) == 21 and all(p.stat().st_size < 20_000 for p in thumbs)
    assert items["food-16"]["texts"] == [["ko", "그릇에 담긴 비빔밥"], ["en", "a bowl of bibimbap"]]
    html = result.index.read_text(encoding="utf-8")
    assert "그릇에 담긴 비빔밥" in html and "<strong>caption</strong>" in html and "<strong>filter</strong>" in html


def test_report_on_a_manifest_without_scores_or_captions(sample_manifest: Manifest, tmp_path: Path) -> None:
    result = write_report(sample_manifest.path, tmp_path / "report", limit=10)
    assert result.histograms == [] and result.shown <= 10 and result.rows == 22
    data = embedded_data(result.index)
    assert data["items"][0]["texts"][0][0] in ("en", "alt")
    again = write_report(sample_manifest.path, tmp_path / "report", limit=10)  # same key-hash sample
    assert embedded_data(again.index)["items"] == data["items"]


def test_report_refuses_a_folder_with_other_files(manifest: Manifest, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.html").write_text("my page")
    with pytest.raises(ManifestError, match="holds other files"):
        write_report(manifest.path, tmp_path / "mine")
    assert (tmp_path / "mine" / "index.html").read_text() == "my page"


def test_view_serves_the_report_on_localhost(manifest: Manifest, tmp_path: Path) -> None:
    process = kcli_popen("view", str(manifest.path), "--port", "0", "--json", env={"KCLI_HOME": str(tmp_path / "home")},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while True:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            lines.append(line)
            if line.startswith("}"):
                break
        started = json.loads("".join(lines))
        assert started["url"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(started["url"], timeout=10) as response:
            assert "report-data" in response.read().decode("utf-8")
        assert Path(started["report"]).parent == tmp_path / "home" / "reports"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_report_command_json(manifest: Manifest, tmp_path: Path) -> None:
    done = kcli("report", str(manifest.path), "--out", str(tmp_path / "r"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["rows"], result["shown"]) == (22, 22) and Path(result["index"]).exists()
