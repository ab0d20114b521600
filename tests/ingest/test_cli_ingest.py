"""``kcli ingest`` from the command line: options, config-file precedence, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdata.errors import ConfigError
from kdata.ingest.settings import crop_config, folder_config, url_config
from kdata.manifest import open_manifest
from tests.helpers.cli import kcli
from tests.ingest.fault_server import image_route, serve


def test_urls_from_a_csv_with_resize_and_carried_columns(tmp_path: Path) -> None:
    routes = {f"/{i}.jpg": image_route(i) for i in range(3)}
    with serve(routes) as server:
        listing = tmp_path / "list.csv"
        listing.write_text("URL,TEXT,license\n" + "".join(f"{server.url(p)},그림 {i},CC0\n"
                                                           for i, p in enumerate(routes)))
        (tmp_path / "ingest.toml").write_text('threads = 2\n[image]\nimage_size = 999\nencode_quality = 80\n')
        done = kcli("ingest", "urls", str(listing), "--out", str(tmp_path / "out"), "--url-col", "URL",
                    "--caption-col", "TEXT", "--resize-mode", "center_crop", "--image-size", "32",
                    "--encode-format", "webp", "--allow-private", "--config", str(tmp_path / "ingest.toml"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"] == {"total": 3, "kept": 3}
    manifest = open_manifest(tmp_path / "out")
    rows = manifest.read_table().to_pylist()
    assert [(r["caption"], r["license"], r["width"], r["height"], r["format"]) for r in rows] == [
        (f"그림 {i}", "CC0", 32, 32, "WEBP") for i in range(3)]
    config = manifest.lineage_chain[0]["config"]
    assert (config["image"]["image_size"], config["image"]["encode_quality"], config["threads"]) == (32, 80, 2)


def test_folder_and_crop_commands(tmp_path: Path) -> None:
    done = kcli("ingest", "folder", "manifests/samples/images", "--out", str(tmp_path / "f"),
                "--mapping", "ink-painting", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"] == {"total": 22, "kept": 22}
    done = kcli("ingest", "crop", str(tmp_path / "f"), "--out", str(tmp_path / "c"), "--short-side", "128",
                "--size", "96", "--crops", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"] == {"total": 44, "kept": 44}


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    done = kcli("ingest", "urls", str(tmp_path / "none.txt"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"error: no such input file: {tmp_path / 'none.txt'}"]


def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    listing = tmp_path / "l.csv"
    listing.write_text("url\nhttp://example.org/a.jpg\n")
    cases = [
        (lambda: url_config(listing, {"resize_mode": "stretch"}),
         "ingest urls: image.resize_mode = 'stretch': expected one of no, keep_ratio,"),
        (lambda: url_config(listing, {"url_col": "URL"}), "l.csv has no column 'URL' (--url-col); it has: url"),
        (lambda: url_config(listing, {"retries": "many"}), "ingest urls: fetch.retries = 'many': expected int >= 0"),
        (lambda: folder_config(tmp_path, {"mapping": "nope"}), "unknown sidecar mapping 'nope'; valid names: ink-"),
        (lambda: crop_config({"size": 600}), "size (600) must be between 1 and short_side (512)"),
    ]
    for build, message in cases:
        with pytest.raises(ConfigError) as caught:
            build()
        assert message in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.csv"]


@pytest.mark.parametrize(("given", "expected"), [([], 3), (["--workers", "1"], 1), (["-w", "2"], 2)])
def test_urls_default_to_one_worker_per_core_unless_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          given: list[str], expected: int) -> None:
    from typer.testing import CliRunner

    from kcli.main import app

    seen: list[int] = []
    monkeypatch.setattr("kdata.ingest.urls.default_workers", lambda: 3)
    monkeypatch.setattr("kdata.ingest.urls.ingest_urls", lambda config, out, options: seen.append(options.workers))
    monkeypatch.setattr("kcli.output.emit", lambda *args, **kwargs: None)
    listing = tmp_path / "urls.txt"
    listing.write_text("http://127.0.0.1:9/a.jpg\n")
    done = CliRunner().invoke(app, ["ingest", "urls", str(listing), "--out", str(tmp_path / "out"), "--json", *given])
    assert done.exit_code == 0, done.output
    assert seen == [expected]
