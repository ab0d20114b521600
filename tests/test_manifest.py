from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdata.blobs import BlobStore, read_image_bytes
from kdata.errors import ManifestError, ManifestSchemaError
from kdata.manifest import LINEAGE_KEY, Lineage, file_sha256, open_manifest, write_manifest
from kdata.schema import IMAGE, conform_table


def _rows(n: int, start: int = 0) -> pa.Table:
    return conform_table(pa.table({"key": [f"k{i}" for i in range(start, start + n)], "status": ["ok"] * n}), IMAGE)


def test_written_manifest_carries_lineage_in_descriptor_and_parquet(tmp_path: Path) -> None:
    lineage = Lineage(stage="unit", config={"threshold": 0.5})
    manifest = write_manifest(tmp_path / "m", [_rows(3), _rows(2, 3)], IMAGE, lineage)
    reopened = open_manifest(tmp_path / "m")
    assert reopened.num_rows == 5
    assert reopened.fingerprint == manifest.fingerprint
    assert reopened.descriptor["lineage"]["config"] == {"threshold": 0.5}
    meta = pq.read_schema(reopened.shard_paths[0]).metadata
    shard_lineage = json.loads(meta[LINEAGE_KEY])
    assert shard_lineage["stage"] == "unit" and shard_lineage["kcli_version"]


def test_image_bytes_are_stored_uncompressed_and_the_rest_zstd_and_the_recorded_hash_is_the_files(
        tmp_path: Path) -> None:
    table = _rows(3)
    images = pa.array([bytes(range(256)) * 40, None, b"\xff\xd8\xff" * 500], pa.binary())
    table = table.set_column(table.schema.get_field_index("image_bytes"), "image_bytes", images)
    table = table.append_column("tags", pa.array([["a", "b"], [], ["a"]], pa.list_(pa.string())))
    manifest = write_manifest(tmp_path / "m", [table], IMAGE, Lineage(stage="unit", config={}))
    shard = manifest.shard_paths[0]
    metadata = pq.read_metadata(shard)
    codecs = {metadata.row_group(0).column(i).path_in_schema: metadata.row_group(0).column(i).compression
              for i in range(metadata.num_columns)}
    assert codecs.pop("image_bytes") == "UNCOMPRESSED"
    assert codecs["tags.list.element"] == "ZSTD" and set(codecs.values()) == {"ZSTD"}
    assert manifest.descriptor["shards"][0]["sha256"] == file_sha256(shard)
    assert pq.read_table(shard).column("image_bytes").to_pylist() == images.to_pylist()


def test_child_manifest_records_parent_fingerprint_and_chain(tmp_path: Path) -> None:
    parent = write_manifest(tmp_path / "p", [_rows(2)], IMAGE, Lineage(stage="first", config={}))
    child_lineage = Lineage(stage="second", config={}, parent=str(parent.path), parent_fingerprint=parent.fingerprint)
    child = write_manifest(tmp_path / "c", [_rows(2)], IMAGE, child_lineage, parent=parent)
    assert [step["stage"] for step in child.lineage_chain] == ["second", "first"]
    assert child.lineage_chain[0]["parent_fingerprint"] == parent.fingerprint


def test_streaming_read_filters_status_and_selects_columns(tmp_path: Path) -> None:
    table = _rows(4)
    table = table.set_column(table.schema.get_field_index("status"), "status", pa.array(["ok", "rejected"] * 2))
    manifest = write_manifest(tmp_path / "m", [table], IMAGE, Lineage(stage="unit", config={}))
    batches = list(manifest.iter_batches(columns=["key"], batch_size=1, only_ok=True))
    assert [b.num_rows for b in batches] == [1, 0, 1, 0]
    assert manifest.read_table(columns=["key"], only_ok=True).column("key").to_pylist() == ["k0", "k2"]


def test_writing_a_bad_table_fails_before_anything_is_written(tmp_path: Path) -> None:
    bad = _rows(1).drop_columns(["sha256"])
    with pytest.raises(ManifestSchemaError, match="sha256"):
        write_manifest(tmp_path / "m", [bad], IMAGE, Lineage(stage="unit", config={}))
    assert not (tmp_path / "m" / "manifest.json").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such manifest"),
        (lambda p: p.write_text("not parquet"), "not a manifest directory"),
        (lambda p: p.mkdir(), "manifest.json is missing"),
    ],
)
def test_open_reports_bad_paths_in_one_line(tmp_path: Path, make, message: str) -> None:  # noqa: ANN001
    target = tmp_path / "thing"
    make(target)
    with pytest.raises(ManifestError, match=message) as info:
        open_manifest(target)
    assert "\n" not in str(info.value)


def test_open_rejects_a_shard_that_is_not_parquet(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m", [_rows(2)], IMAGE, Lineage(stage="unit", config={}))
    manifest.shard_paths[0].write_bytes(b"garbage")
    with pytest.raises(ManifestError, match="not a readable Parquet file"):
        open_manifest(tmp_path / "m")


def test_inline_and_blob_rows_read_the_same_way(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    rel = store.put(b"\xff\xd8jpeg-bytes", "JPEG")
    assert rel.endswith(".jpg") and (tmp_path / "blobs" / rel).exists()
    assert store.put(b"\xff\xd8jpeg-bytes", "JPEG") == rel  # content-addressed: stored once
    inline = {"key": "a", "image_bytes": b"\xff\xd8jpeg-bytes", "image_path": None}
    stored = {"key": "b", "image_bytes": None, "image_path": rel}
    assert read_image_bytes(inline, []) == read_image_bytes(stored, [tmp_path / "blobs"])
    with pytest.raises(ManifestError, match="blob"):
        read_image_bytes(stored, [tmp_path / "elsewhere"])
