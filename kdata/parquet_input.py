"""Plain Parquet as input: a ``.parquet`` file, or a folder of them such as a Hub dataset export.

kcli reads its own manifests through :mod:`kdata.manifest`; this module opens what other tools wrote (and
kcli's own ``publish`` exports) and says, column by column, what a kcli stage would be missing. Hub
exports keep the image in an ``image`` column in ``datasets``' Image layout (a struct of ``bytes`` and
``path``); :func:`image_bytes_column` maps it to kcli's ``image_bytes``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kdata.errors import ManifestError
from kdata.schema import IMAGE

# Columns that hold an image in the datasets Image layout, as Hub exports (kcli publish's included) name them.
HUB_IMAGE_COLUMNS = ("image", "img", "jpg", "png")


@dataclass(frozen=True)
class ParquetInput:
    """Parquet files read as one table, in sorted path order."""

    path: Path
    files: tuple[Path, ...]

    @property
    def num_rows(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def schema(self) -> pa.Schema:
        return pq.read_schema(self.files[0])


def open_parquet_input(path: str | os.PathLike[str]) -> ParquetInput:
    """A Parquet file or a folder holding Parquet files at any depth, or a one-line ManifestError."""
    root = Path(path)
    if not root.exists():
        raise ManifestError(f"no such manifest: {root}")
    files = (root,) if root.is_file() else tuple(sorted(p for p in root.rglob("*.parquet") if p.is_file()))
    if not files:
        raise ManifestError(f"{root} is neither a kcli manifest (no manifest.json) nor a folder of Parquet files")
    for file in files:
        try:
            pq.read_schema(file)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ManifestError(f"{file} is not a readable Parquet file: {exc}") from None
    return ParquetInput(root, files)


def is_image_struct(data_type: pa.DataType) -> bool:
    """``datasets.Image()`` storage: a struct with a binary ``bytes`` field (and usually ``path``)."""
    if not pa.types.is_struct(data_type):
        return False
    index = data_type.get_field_index("bytes")
    return index >= 0 and pa.types.is_binary(data_type.field(index).type)


def image_bytes_column(schema: pa.Schema) -> str | None:
    """The column that holds image bytes: kcli's ``image_bytes``, else a Hub Image struct column."""
    if "image_bytes" in schema.names:
        return "image_bytes"
    for name in (*HUB_IMAGE_COLUMNS, *schema.names):
        if name in schema.names and is_image_struct(schema.field(name).type):
            return name
    return None


def missing_for_stages(schema: pa.Schema) -> list[str]:
    """What a kcli image stage would lack in this table, one plain sentence each ([] when nothing).

    ``key``, ``status`` and the other manifest columns can be filled in on import (a key per row, every
    row ``ok``); the image itself cannot."""
    notes = []
    image = image_bytes_column(schema)
    if image is None and "image_path" not in schema.names:
        notes.append("no image column (image_bytes, or an Image column such as image): filter, caption and "
                     "report need the image bytes")
    elif image not in (None, "image_bytes"):
        notes.append(f"images are in {image!r} (datasets Image layout): read as image_bytes")
    absent = [name for name in IMAGE.required.names if name not in schema.names and name != "image_bytes"]
    if absent:
        notes.append(f"not a kcli manifest: no {', '.join(absent)} (filled in on import: a key per row, status ok)")
    return notes
