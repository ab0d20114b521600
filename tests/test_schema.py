from __future__ import annotations

import pyarrow as pa
import pytest

from kdata.errors import ManifestSchemaError
from kdata.schema import IMAGE, PARALLEL, conform_table, validate_schema


def _image_table(**overrides: pa.Array) -> pa.Table:
    table = conform_table(pa.table({"key": ["a"], "status": ["ok"]}), IMAGE)
    for name, column in overrides.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def test_conformed_table_passes_validation_with_core_columns_first() -> None:
    table = _image_table()
    validate_schema(table.schema, IMAGE)
    assert table.column_names[: len(IMAGE.required)] == IMAGE.required.names


@pytest.mark.parametrize("missing", ["key", "sha256", "status", "width"])
def test_missing_column_is_named(missing: str) -> None:
    table = _image_table().drop_columns([missing])
    with pytest.raises(ManifestSchemaError, match=f"missing required column '{missing}'"):
        validate_schema(table.schema, IMAGE)


@pytest.mark.parametrize(
    ("column", "array", "expected"),
    [
        ("width", pa.array(["wide"]), "int32"),
        ("sha256", pa.array([3]), "string"),
        ("image_bytes", pa.array([1.5]), "binary"),
    ],
)
def test_mistyped_column_is_named_with_both_types(column: str, array: pa.Array, expected: str) -> None:
    table = _image_table(**{column: array})
    with pytest.raises(ManifestSchemaError, match=f"column '{column}' has type .*, expected {expected}"):
        validate_schema(table.schema, IMAGE)


def test_mistyped_optional_column_is_rejected_but_unknown_extra_columns_pass() -> None:
    table = _image_table().append_column("paper_type", pa.array(["화선지"]))
    validate_schema(table.schema, IMAGE)
    bad = table.append_column("caption_ko", pa.array([1]))
    with pytest.raises(ManifestSchemaError, match="caption_ko"):
        validate_schema(bad.schema, IMAGE)


def test_parallel_manifest_requires_both_sides() -> None:
    table = conform_table(pa.table({"key": ["1"], "ko": ["한복"], "en": ["hanbok"], "status": ["ok"]}), PARALLEL)
    validate_schema(table.schema, PARALLEL)
    with pytest.raises(ManifestSchemaError, match="missing required column 'en'"):
        validate_schema(table.drop_columns(["en"]).schema, PARALLEL)


def test_conform_casts_python_ints_to_contract_types() -> None:
    table = conform_table(pa.table({"key": ["a"], "status": ["ok"], "width": [12], "height": [7]}), IMAGE)
    assert table.schema.field("width").type == pa.int32()
    assert table.column("width").to_pylist() == [12]
