"""Stages on plain Parquet: import a Parquet file or folder (a Hub export, img2dataset's output) as a manifest.

``kcli filter``, ``report`` and ``view`` take a kcli manifest or plain Parquet. Plain Parquet is imported
once into the kcli home (``imports/<fingerprint of the files>``) and the stage runs on that manifest, so
its output has the usual lineage: an ``import`` step naming the files it came from. The import maps, and
records how:

- an Image column in ``datasets``' layout (``image``: a struct of ``bytes`` and ``path``) → ``image_bytes``;
- no ``key`` → ``<file stem>-<row>``; no ``status`` → every row ``ok``;
- no ``sha256`` / ``width`` / ``height`` / ``format`` → read from the bytes (Pillow reads only the header).

Every row is imported; a row whose bytes are missing or not an image is ``failed`` with a reason.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from kdata.errors import ManifestSchemaError
from kdata.manifest import DESCRIPTOR, Lineage, Manifest, open_manifest, write_manifest
from kdata.models.home import kcli_home
from kdata.parquet_input import ParquetInput, image_bytes_column, open_parquet_input
from kdata.schema import IMAGE, conform_table

IMPORTS = "imports"
NOT_AN_IMAGE = "import:not_an_image"
NO_BYTES = "import:no_image_bytes"


def open_input(path: str | os.PathLike[str] | Manifest, stage: str,
               blob_dirs: tuple[str | os.PathLike[str], ...] | list = ()) -> Manifest:
    """A kcli manifest, opened as :func:`open_manifest` opens it; plain Parquet, imported first."""
    if isinstance(path, Manifest) or (Path(path) / DESCRIPTOR).is_file() or not Path(path).exists():
        return open_manifest(path, blob_dirs)
    plain = open_parquet_input(path)
    image = image_bytes_column(plain.schema())
    if image is None:
        names = ", ".join(plain.schema().names)
        raise ManifestSchemaError(f"kcli {stage} needs the images: {plain.path} is plain Parquet without an image "
                                  f"column (image_bytes, or a datasets Image column such as image); it has: {names}")
    target = kcli_home() / IMPORTS / import_fingerprint(plain)
    if not (target / DESCRIPTOR).is_file():
        tables = [import_table(pq.read_table(f), image, f.stem) for f in plain.files]
        config = {"source": str(plain.path.resolve()), "files": [str(f.resolve()) for f in plain.files],
                  "image_column": image}
        write_manifest(target, tables, IMAGE, Lineage(stage="import", config=config))
    return open_manifest(target, blob_dirs)


def import_fingerprint(plain: ParquetInput) -> str:
    """Which files, as they are now: path, size and modification time of each."""
    digest = hashlib.sha256()
    for file in plain.files:
        stat = file.stat()
        digest.update(f"{file.resolve()}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def import_table(table: pa.Table, image: str, stem: str) -> pa.Table:
    """One Parquet file's rows as image-manifest rows (see the module docstring for the mapping)."""
    if image != "image_bytes":
        table = table.append_column("image_bytes", table.column(image).combine_chunks().field("bytes"))
        table = table.drop_columns([image])
    if "key" not in table.column_names:
        table = table.append_column("key", pa.array([f"{stem}-{row:08d}" for row in range(table.num_rows)]))
    if "status" not in table.column_names:
        table = table.append_column("status", pa.array(["ok"] * table.num_rows))
    derived = _from_bytes(table.column("image_bytes").to_pylist())
    for name in ("sha256", "width", "height", "format"):
        if name not in table.column_names:
            values = derived[name]
            table = table.append_column(name, pa.array(values, IMAGE.field(name).type))
    table = _fail_rows_without_images(table, derived["failed"])
    return conform_table(table, IMAGE)


def _from_bytes(blobs: list[bytes | None]) -> dict[str, list]:
    """sha256, width, height and format of each image, and the reason a row has no readable image."""
    derived: dict[str, list] = {"sha256": [], "width": [], "height": [], "format": [], "failed": []}
    for blob in blobs:
        size, kind, failed = (None, None), None, None
        if blob is None:
            failed = NO_BYTES
        else:
            try:
                with Image.open(io.BytesIO(blob)) as opened:
                    size, kind = opened.size, opened.format
            except (UnidentifiedImageError, OSError):
                failed = NOT_AN_IMAGE
        derived["sha256"].append(hashlib.sha256(blob).hexdigest() if blob is not None else None)
        derived["width"].append(size[0])
        derived["height"].append(size[1])
        derived["format"].append(kind)
        derived["failed"].append(failed)
    return derived


def _fail_rows_without_images(table: pa.Table, failed: list[str | None]) -> pa.Table:
    reasons = pa.array(failed, pa.string())
    bad = pc.is_valid(reasons)
    status = pc.if_else(bad, "failed", table.column("status"))
    old = table.column("reason") if "reason" in table.column_names else pa.nulls(table.num_rows, pa.string())
    reason = pc.if_else(bad, reasons, old)
    table = table.set_column(table.column_names.index("status"), "status", status)
    if "reason" in table.column_names:
        return table.set_column(table.column_names.index("reason"), "reason", reason)
    return table.append_column("reason", reason)
