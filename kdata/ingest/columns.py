"""The columns ingest writes, with fixed Arrow types, and how a processed row becomes them.

Types are fixed here (not inferred per batch) so that every shard has the same schema even when a
shard's column is all null (all rows failed, say): shards must concatenate into one manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa

from kdata.blobs import BlobStore
from kdata.ingest.imaging import ImageResult
from kdata.schema import Status

# The image facts every ingest adds (URL and folder alike), in output order.
IMAGE_FIELDS = pa.schema(
    [
        pa.field("status", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("image_bytes", pa.binary()),
        pa.field("image_path", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("format", pa.string()),
        pa.field("original_width", pa.int32()),
        pa.field("original_height", pa.int32()),
        pa.field("phash", pa.string()),
        pa.field("exif_json", pa.string()),
        pa.field("image_mode", pa.string()),  # the source's pixel mode: CMYK, I;16, P, RGBA ...
        pa.field("frame_count", pa.int32()),  # > 1: an animated image (first frame used when re-encoding)
    ]
)
# What the URL downloader adds on top.
FETCH_FIELDS = pa.schema(
    [
        pa.field("http_status", pa.int32()),
        pa.field("final_url", pa.string()),  # after redirects
        pa.field("attempts", pa.int32()),  # runs that tried this row (a re-run retries retryable failures)
    ]
)
RESERVED_COLUMNS = frozenset({"key", *IMAGE_FIELDS.names, *FETCH_FIELDS.names})
STORES = ("inline", "blobs")
Store = Literal[STORES]  # type: ignore[valid-type]  # a config field naming one


def image_values(result: ImageResult, store: str, blobs: BlobStore | None) -> dict[str, Any]:
    """The stored bytes and facts of one decoded image, as ``IMAGE_FIELDS`` values."""
    digest = hashlib.sha256(result.data).hexdigest()
    values: dict[str, Any] = {
        "status": Status.OK,
        "reason": None,
        "sha256": digest,
        "width": result.width,
        "height": result.height,
        "format": result.format,
        "original_width": result.original_width,
        "original_height": result.original_height,
        "phash": result.phash,
        "exif_json": result.exif_json,
        "image_mode": result.mode,
        "frame_count": result.frames,
    }
    if store == "blobs" and blobs is not None:
        values["image_path"] = blobs.put(result.data, result.format, digest)
    else:
        values["image_bytes"] = result.data
    return values


def with_values(table: pa.Table, values: Sequence[Mapping[str, Any]], fields: pa.Schema) -> pa.Table:
    """``table`` minus private (``_``-prefixed) and stale ``fields`` columns, plus ``fields`` from ``values``."""
    keep = [n for n in table.column_names if not n.startswith("_") and n not in fields.names]
    table = table.select(keep)
    for field in fields:
        column = pa.array([v.get(field.name) for v in values], type=field.type)
        table = table.append_column(field, column)
    return table


def previous_values(table: pa.Table, fields: pa.Schema) -> list[dict[str, Any]]:
    """A re-run's earlier results for each row (status and reason were hidden as ``_previous_*``)."""
    renamed = {"status": "_previous_status", "reason": "_previous_reason"}
    columns = {f.name: renamed.get(f.name, f.name) for f in fields}
    present = {name: source for name, source in columns.items() if source in table.column_names}
    data = {name: table.column(source).to_pylist() for name, source in present.items()}
    return [{name: data[name][i] for name in present} for i in range(table.num_rows)]
