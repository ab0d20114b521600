"""The parallel corpus the trainer reads: ok rows only, three splits, a stable held-out slice when none is given."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from kdata.errors import ConfigError
from kdata.manifest import Lineage, write_manifest
from kdata.schema import IMAGE, PARALLEL, conform_table
from ktrain.encoder.data import held_out, load_parallel


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    table = conform_table(pa.Table.from_pylist(rows), PARALLEL)
    return write_manifest(tmp_path / "pairs", [table], PARALLEL, Lineage(stage="unit", config={})).path


def _row(key: str, split: str | None = "train", status: str = "ok", ko: str = "개", en: str = "dog") -> dict:
    return {"key": key, "ko": ko, "en": en, "split": split, "status": status, "source": "unit"}


def test_splits_aliases_and_rows_that_are_not_ok(tmp_path: Path) -> None:
    rows = [_row("a"), _row("b", None), _row("c", "val"), _row("d", "dev"), _row("e", "test"),
            _row("f", status="rejected"), _row("g", ko="  ")]
    corpus = load_parallel(_write(tmp_path, rows))
    assert corpus.train.keys == ["a", "b"] and corpus.validation.keys == ["c", "d"] and corpus.test.keys == ["e"]
    assert corpus.skipped == {"skipped/empty_text": 1}
    assert corpus.split("valid").keys == ["c", "d"]


def test_without_validation_rows_a_stable_slice_of_train_is_held_out(tmp_path: Path) -> None:
    rows = [_row(f"k{i}") for i in range(200)]
    corpus = load_parallel(_write(tmp_path, rows), validation_fraction=0.1)
    expected = [f"k{i}" for i in range(200) if held_out(f"k{i}", 0.1)]
    assert corpus.validation.keys == expected and 10 <= len(expected) <= 30
    assert len(corpus.train) + len(corpus.validation) == 200


def test_unknown_split_and_image_manifest_are_clear_errors(tmp_path: Path, sample_manifest) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="row 'x' has split 'holdout'"):
        load_parallel(_write(tmp_path, [_row("x", "holdout")]))
    with pytest.raises(ConfigError, match="of kind 'image'; the encoder trains on a parallel corpus"):
        load_parallel(sample_manifest.path)
    assert IMAGE.name == "image"


def test_seed_manifest_has_forty_train_and_ten_validation_pairs(seed_pairs: Path) -> None:
    corpus = load_parallel(seed_pairs)
    assert (len(corpus.train), len(corpus.validation), len(corpus.test)) == (40, 10, 0)
    assert corpus.validation.en[0] == "a bowl of bibimbap on a table"
