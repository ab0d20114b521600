"""A manifest folder opens with the real ``datasets.load_dataset(DIR)``: only the shards are read, the
``image_bytes`` column decodes as an Image, every row (rejected ones included) comes along, and kcli still
reads the folder as its own manifest."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from kdata.hf_layout import CARD, dataset_card, features_yaml
from kdata.manifest import open_manifest
from tests.helpers.manifests import write_rows

datasets = pytest.importorskip("datasets", reason="datasets is in the dev extra")


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_load_dataset_reads_a_manifest_folder_with_images_decoded(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    rows = [{"key": "a", "status": "ok", "image_bytes": png(7, 5), "category": "hanok", "tags": ["roof", "tile"]},
            {"key": "b", "status": "rejected", "reason": "blur", "image_bytes": png(3, 3), "tags": []},
            {"key": "c", "status": "failed", "reason": "download:404", "image_bytes": None, "tags": None}]
    write_rows(tmp_path / "m", rows, shards=2)
    (tmp_path / "m" / "stats.json").write_text(json.dumps({"total": 3}))  # as the runner leaves it
    loaded = datasets.load_dataset(str(tmp_path / "m"), split="train")
    assert isinstance(loaded.features["image_bytes"], datasets.Image)
    assert loaded["key"] == ["a", "b", "c"] and loaded["status"] == ["ok", "rejected", "failed"]
    assert [None if image is None else image.size for image in loaded["image_bytes"]] == [(7, 5), (3, 3), None]
    assert loaded["tags"] == [["roof", "tile"], [], None]
    kept = loaded.filter(lambda status: status == "ok", input_columns="status")  # as the card says
    assert kept["key"] == ["a"]
    again = open_manifest(tmp_path / "m")  # kcli's reader is unchanged: plain binary bytes
    assert again.read_table(["image_bytes"]).column(0).type == pa.binary()
    assert "status` is `ok`, `rejected` or `failed`" in (tmp_path / "m" / CARD).read_text()


def test_types_without_a_yaml_spelling_leave_features_to_datasets() -> None:
    schema = pa.schema([("key", pa.string()), ("image_bytes", pa.binary()), ("when", pa.decimal128(5, 2))])
    assert features_yaml(schema) is None
    assert "dataset_info" not in dataset_card(schema, "image") and "data/*.parquet" in dataset_card(schema, "image")
    nested = pa.schema([("box", pa.struct([("x", pa.float32()), ("label", pa.string())])),
                        ("scores", pa.list_(pa.float64()))])
    assert features_yaml(nested) == [
        {"name": "box", "struct": [{"name": "x", "dtype": "float32"}, {"name": "label", "dtype": "string"}]},
        {"name": "scores", "sequence": "float64"}]
