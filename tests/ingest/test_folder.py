"""Folder ingest with sidecar JSON mapped by a mapping config, one metadata file, and the crop step."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from kdata.errors import ConfigError
from kdata.ingest.crop import CropConfig, crop_manifest
from kdata.ingest.folder import FolderIngestConfig, ingest_folder
from kdata.ingest.mapping import SidecarMapping, load_mapping
from kdata.manifest import Lineage, write_manifest
from kdata.schema import IMAGE, conform_table
from tests.ingest import images


def _annotation(paper: str, method: str, **top: object) -> dict:
    return {**top, "annotation": {"paper": {"type": paper}, "technique": {"method": method}}}


def _archive(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a.jpg").write_bytes(images.jpeg(seed=1))
    a_meta = _annotation("화선지", "백묘법", title="매화", year=1890)
    (root / "a.json").write_text(json.dumps(a_meta, ensure_ascii=False))
    (root / "b.png").write_bytes(images.encode(images.picture(seed=2), "PNG"))
    (root / "b.json").write_text(json.dumps(_annotation("순지", "수묵법", year="1890s"), ensure_ascii=False))
    (root / "c.jpg").write_bytes(images.jpeg(seed=3))
    (root / "c.json").write_text("{not json")
    (root / "d.jpg").write_bytes(images.jpeg(seed=4))
    (root / "sub" / "e.jpg").write_bytes(images.jpeg(seed=5))
    (root / "sub" / "e.jpg.json").write_text(json.dumps(_annotation(" 순지 ", "몰골법", width=7), ensure_ascii=False))
    (root / "x.jpg").write_bytes(images.jpeg(seed=6))
    (root / "x.png").write_bytes(images.HTML)  # named like an image, is not one
    (root / "x.png.json").write_text(json.dumps({"category": "web"}))  # no annotation: not an ink painting
    (root / ".hidden" / "h.jpg").write_bytes(images.jpeg(seed=7))
    (root / "notes.txt").write_text("not an image")
    return root


def _ingest(root: Path, out: Path, **kwargs: object) -> dict[str, dict]:
    config = FolderIngestConfig(root=str(root), mapping=load_mapping("ink-painting"), shard_size=3, **kwargs)
    result = ingest_folder(config, out)
    return {r["key"]: r for r in result.manifest.read_table().to_pylist()}


def test_sidecars_are_mapped_to_columns_and_bad_rows_keep_a_reason(tmp_path: Path) -> None:
    rows = _ingest(_archive(tmp_path / "archive"), tmp_path / "out")
    assert sorted(rows) == ["a", "b", "c", "d", "sub/e", "x.jpg", "x.png"]  # hidden folder and .txt skipped
    outcome = {k: (r["status"], r["reason"], r["paper_type"], r["method"]) for k, r in rows.items()}
    assert outcome == {
        "a": ("ok", None, "화선지", "백묘법"),
        "b": ("rejected", "unexpected_value:method=수묵법", "순지", "수묵법"),
        "c": ("failed", "bad_sidecar:JSONDecodeError", None, None),
        "d": ("failed", "no_metadata", None, None),  # the mapping has columns to fill, and no sidecar
        "sub/e": ("ok", None, "순지", "몰골법"),  # whitespace around a value is stripped
        "x.jpg": ("failed", "no_metadata", None, None),
        "x.png": ("failed", "not_an_image:html", None, None),  # outside the mapping's scope: decoded as usual
    }
    assert rows["a"]["paper_type_en"] == "hwaseonji (Xuan paper)" and rows["a"]["title"] == "매화"
    assert rows["sub/e"]["method_en"] == "molgol (boneless, without outlines)"
    assert (rows["a"]["year"], rows["b"]["year"]) == ("1890", "1890s")  # mixed types become text
    assert rows["sub/e"]["meta_width"] == 7 and rows["sub/e"]["width"] == 96  # a colliding field moves aside
    assert rows["a"]["image_bytes"] == images.jpeg(seed=1) and rows["a"]["file"] == "a.jpg"
    assert rows["a"]["source"] == "folder:archive"


def test_rerun_resumes_and_a_changed_folder_is_refused(tmp_path: Path) -> None:
    root = _archive(tmp_path / "archive")
    config = FolderIngestConfig(root=str(root), shard_size=3)
    first = ingest_folder(config, tmp_path / "out")
    again = ingest_folder(config, tmp_path / "out")
    assert (again.shards_run, again.shards_skipped) == (0, 3)
    assert again.manifest.fingerprint == first.manifest.fingerprint
    (root / "new.jpg").write_bytes(images.jpeg(seed=9))
    with pytest.raises(ConfigError, match="the input changed"):
        ingest_folder(config, tmp_path / "out")


def test_one_metadata_file_instead_of_sidecars(tmp_path: Path) -> None:
    root = tmp_path / "imagefolder"
    root.mkdir()
    (root / "p.jpg").write_bytes(images.jpeg(seed=1))
    (root / "q.jpg").write_bytes(images.jpeg(seed=2))
    records = [{"file_name": "p.jpg", "caption_ko": "대나무", "meta": {"paper": "순지"}},
               {"file_name": "gone.jpg", "caption_ko": "없음", "meta": {"paper": "화선지"}}]
    (root / "metadata.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    mapping = SidecarMapping(columns={"paper_type": "meta.paper"})
    result = ingest_folder(FolderIngestConfig(root=str(root), mapping=mapping), tmp_path / "out")
    rows = {r["key"]: r for r in result.manifest.read_table().to_pylist()}
    assert {k: (r["status"], r["reason"], r["caption_ko"], r["paper_type"]) for k, r in rows.items()} == {
        "p": ("ok", None, "대나무", "순지"), "q": ("failed", "no_metadata", None, None),
        "gone": ("failed", "missing_file", "없음", "화선지"),
    }


def test_an_unknown_mapping_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="unknown sidecar mapping 'ink'; valid names: ink-painting"):
        load_mapping("ink")


def test_random_crops_are_deterministic_and_keep_every_row(tmp_path: Path) -> None:
    rows = [{"key": "p", "image_bytes": images.jpeg(200, 100, seed=1), "status": "ok"},
            {"key": "q", "image_bytes": images.jpeg(100, 300, seed=2), "status": "ok"},
            {"key": "r", "status": "failed", "reason": "http_error:404"}]
    parent = write_manifest(tmp_path / "in", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                            Lineage(stage="unit", config={}))
    config = CropConfig(short_side=64, size=48, crops=2, seed=7)
    first = crop_manifest(parent, config, tmp_path / "a").manifest.read_table().to_pylist()
    second = crop_manifest(parent, config, tmp_path / "b").manifest.read_table().to_pylist()
    assert [r["key"] for r in first] == ["p#crop0", "p#crop1", "q#crop0", "q#crop1", "r"]
    assert [r["crop_of"] for r in first] == ["p", "p", "q", "q", None]
    assert first == second
    boxes = [json.loads(r["crop_box"]) for r in first[:4]]
    assert all(box[2:] == [48, 48] for box in boxes)
    assert all(0 <= box[0] <= 128 - 48 and box[1] <= 16 for box in boxes[:2])  # p resized to 128x64
    assert all(box[0] <= 16 and 0 <= box[1] <= 192 - 48 for box in boxes[2:])  # q resized to 64x192
    assert boxes[0] != boxes[1] and {(r["width"], r["height"]) for r in first[:4]} == {(48, 48)}
    assert first[4]["status"] == "failed" and first[4]["image_bytes"] is None
