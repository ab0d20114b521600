"""Python records to one Arrow table with one type per column, whatever mix the records hold.

Metadata from sidecar files is loosely typed: a ``year`` may be ``1890`` in one file and ``"1890s"`` in
the next, and a field may be absent from most files. Arrow needs one type per column, and every shard
must have the same one; a column whose values disagree becomes text, never an error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from kdata.schema import IMAGE


def unify_rows(rows: Sequence[dict[str, Any]]) -> pa.Table:
    names = list(dict.fromkeys(name for row in rows for name in row))
    fields, columns = [], []
    for name in names:
        values = [row.get(name) for row in rows]
        arrow_type, values = _column_type(name, values)
        fields.append(pa.field(name, arrow_type))
        columns.append(pa.array(values, type=arrow_type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _column_type(name: str, values: list[Any]) -> tuple[pa.DataType, list[Any]]:
    known = IMAGE.field(name)
    kinds = {type(v) for v in values if v is not None}
    if known is not None and pa.types.is_string(known.type) or kinds - {bool, int, float} or not kinds:
        return pa.string(), [_text(v) for v in values]
    if kinds == {bool}:
        return pa.bool_(), values
    if bool in kinds:  # booleans mixed with numbers: keep what was written
        return pa.string(), [_text(v) for v in values]
    if kinds == {int}:
        return pa.int64(), values
    return pa.float64(), [float(v) if v is not None else None for v in values]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
