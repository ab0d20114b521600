"""Which manifest columns a published dataset carries, and how a batch of ``ok`` rows becomes Hub rows.

The image becomes one ``image`` column in the ``datasets`` Image layout (a struct of ``bytes`` and
``path``), which the Hub's viewer and ``datasets.load_dataset`` decode to PIL images. Caption, score
and source-metadata columns go out as they are. Left out: where the bytes lived locally
(``image_bytes``/``image_path``), ``status``/``reason`` (every published row is ``ok``), local
references (``embedding_ref``), other binary columns, and, unless EXIF is kept, ``exif_json``. A
``file:`` URL would reveal the publisher's directories, so it is published as null.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from kdata.blobs import FORMAT_EXTENSIONS, BlobDir, read_image_bytes, unreadable_reason
from kdata.errors import ManifestError, ManifestSchemaError
from kdata.imageio import ImageDecodeError
from kdata.publish.exif import strip_metadata
from kdata.runner.stats import reason_class

if TYPE_CHECKING:
    import datasets

IMAGE_COLUMN = "image"
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # datasets.Image()'s storage
INTERNAL_COLUMNS = ("image_bytes", "image_path", "status", "reason", "embedding_ref")
EXIF_COLUMNS = ("exif_json",)
URL_COLUMNS = ("url", "page_url")
BYTES_COLUMNS = ("key", "image_bytes", "image_path", "format")


def exported_columns(schema: pa.Schema, keep_exif: bool) -> list[str]:
    """The manifest columns that go out, in manifest order (the image column is added in front)."""
    if IMAGE_COLUMN in schema.names:
        raise ManifestSchemaError(f"the manifest has a column named {IMAGE_COLUMN!r}, which the export creates")
    dropped = set(INTERNAL_COLUMNS) | (set() if keep_exif else set(EXIF_COLUMNS))
    return [
        f.name
        for f in schema
        if f.name not in dropped and not (pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type))
    ]


def read_columns(schema: pa.Schema, keep_exif: bool) -> list[str]:
    wanted = exported_columns(schema, keep_exif)
    return wanted + [c for c in BYTES_COLUMNS if c in schema.names and c not in wanted]


def convert_batch(
    batch: pa.RecordBatch, columns: Sequence[str], blob_dirs: Sequence[BlobDir], keep_exif: bool
) -> tuple[pa.Table, Counter[str]]:
    """Turn ``ok`` rows into published rows; a row whose bytes cannot be read is left out and counted."""
    counters: Counter[str] = Counter()
    images: list[dict[str, Any]] = []
    kept: list[int] = []
    sizes: dict[int, tuple[int, int]] = {}
    for index, row in enumerate(batch.select([c for c in BYTES_COLUMNS if c in batch.schema.names]).to_pylist()):
        try:
            data = read_image_bytes(row, blob_dirs)
            image_format = row.get("format") or _sniff_format(data)
            if not keep_exif:
                stripped = strip_metadata(data)
                counters[f"exif/{stripped.action}"] += 1
                data = stripped.data
                if stripped.size is not None:
                    sizes[len(kept)] = stripped.size
        except (ManifestError, OSError) as exc:
            counters[f"skipped/{unreadable_reason(exc)}"] += 1
            continue
        except ImageDecodeError as exc:
            counters[f"skipped/{reason_class(str(exc))}"] += 1
            continue
        images.append({"bytes": data, "path": image_filename(row["key"], image_format)})
        kept.append(index)
    table = pa.Table.from_batches([batch]).take(pa.array(kept, pa.int64())).select(list(columns))
    table = _scrub_local_urls(table)
    if sizes:
        table = _update_sizes(table, sizes)
    counters["exported"] += table.num_rows
    return table.add_column(0, IMAGE_COLUMN, pa.array(images, IMAGE_TYPE)), counters


def image_filename(key: str, image_format: str | None) -> str:
    """The Image struct's ``path``: a file name whose extension tells a reader the format."""
    ext = FORMAT_EXTENSIONS.get((image_format or "").upper(), "")
    return f"{key.replace('/', '_')}{ext}"


def _sniff_format(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as img:  # header only
            return img.format or ""
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"undecodable:{type(exc).__name__}") from None


def _scrub_local_urls(table: pa.Table) -> pa.Table:
    for name in URL_COLUMNS:
        if name in table.column_names:
            column = table.column(name)
            local = pc.fill_null(pc.starts_with(column, "file:"), False)
            table = table.set_column(
                table.column_names.index(name), name, pc.if_else(local, pa.scalar(None, column.type), column)
            )
    return table


def _update_sizes(table: pa.Table, sizes: dict[int, tuple[int, int]]) -> pa.Table:
    """Re-encoding applied the EXIF rotation, so width and height may have swapped."""
    for name, axis in (("width", 0), ("height", 1)):
        if name in table.column_names:
            values = table.column(name).to_pylist()
            for row, size in sizes.items():
                values[row] = size[axis]
            index = table.column_names.index(name)
            table = table.set_column(index, name, pa.array(values, table.schema.field(name).type))
    return table


def features_for(schema: pa.Schema) -> datasets.Features:
    """``datasets`` features of the published table: Arrow types as they are, the image as ``Image()``."""
    import datasets

    plain = pa.schema([f for f in schema if f.name != IMAGE_COLUMN])
    features = datasets.Features({IMAGE_COLUMN: datasets.Image()})
    features.update(datasets.Features.from_arrow_schema(plain))
    return features
