"""``kcli ingest`` from the command line: options, config-file precedence, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from kdata.manifest import open_manifest
from tests.ingest.fault_server import image_route, serve
from tests.test_cli import kcli


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
    (tmp_path / "l.csv").write_text("url\nhttp://example.org/a.jpg\n")
    cases = [
        (("urls", str(tmp_path / "none.txt")), "error: no such input file: "),
        (("urls", str(tmp_path / "l.csv"), "--resize-mode", "stretch"), "resize_mode must be one of no, keep_ratio"),
        (("urls", str(tmp_path / "l.csv"), "--url-col", "URL"), "l.csv has no column 'URL' (--url-col); it has: url"),
        (("folder", str(tmp_path), "--mapping", "nope"), "unknown sidecar mapping 'nope'; valid names: ink-painting"),
        (("crop", str(tmp_path), "--size", "600"), "size (600) must be between 1 and short_side (512)"),
    ]
    for args, message in cases:
        done = kcli("ingest", *args, "--out", str(tmp_path / "out"))
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert message in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written
