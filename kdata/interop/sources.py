"""Readers: each source layout becomes staged rows, without re-downloading or copying what is already there.

A staged row has a ``key``, a ``source``, the caption mapped to text columns (:mod:`kdata.interop.captions`),
the source's own metadata columns (renamed ``input_<name>`` where a name is one ingest writes, such as
``width``), and where its image bytes are: ``_image`` (bytes a Parquet/Arrow source holds) or ``_file``,
``_offset``, ``_size`` (a tar member or a file, read by the import stage's workers). ``_fail_reason``
fails a row whose sample is broken (a failed img2dataset download, unreadable JSON, a broken archive).

Typed sources (Parquet, Arrow) stream in batches with the source's schema; file sources (tars, kohya
folders) are indexed first, and only their small metadata is held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kdata.errors import ConfigError
from kdata.ingest.columns import RESERVED_COLUMNS
from kdata.ingest.tables import unify_rows
from kdata.interop.captions import CAPTION_COLUMNS, caption_arrays
from kdata.interop.webdataset import iter_tar_paths, read_tar_index

IMAGE_COLUMN_NAMES = ("jpg", "jpeg", "png", "webp", "image", "img", "image_bytes", "bytes")
CAPTION_COLUMN_NAMES = ("caption", "txt", "text", "prompt", "alt_text", "caption_ko", "caption_en")
BATCH_ROWS = 1000
PRIVATE = ("_image", "_file", "_offset", "_size", "_fail_reason")


@dataclass
class SourceSpec:
    """What to read: the local path (None for a Hub id), its format and the columns the user named."""

    source: str
    local: Path | None
    format: str
    image_col: str | None = None
    caption_col: str | None = None
    split: str | None = None
    label: str = ""  # the ``source`` column's value


class KeyMaker:
    """Keys as the source gives them, made unique (a repeated key gets ``-<row>``), else the row number."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.index = 0

    def __call__(self, given: Any) -> str:
        key = str(given) if given not in (None, "") else f"{self.index:09d}"
        if key in self.seen:
            key = f"{key}-{self.index:09d}"
        self.seen.add(key)
        self.index += 1
        return key


def image_column(schema: pa.Schema, named: str | None) -> str:
    """The column holding image bytes: the one named, else a known name, else the first bytes-like one."""
    if named is not None:
        if named not in schema.names:
            raise ConfigError(f"no column {named!r} (--image-col); the source has: {', '.join(schema.names)}")
        return named
    candidates = [f.name for f in schema if _bytes_like(f.type)]
    for name in IMAGE_COLUMN_NAMES:
        if name in candidates:
            return name
    if candidates:
        return candidates[0]
    raise ConfigError(f"no image column (bytes, or a struct with bytes) among: {', '.join(schema.names)}; "
                      "pass --image-col")


def _bytes_like(dtype: pa.DataType) -> bool:
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return True
    return pa.types.is_struct(dtype) and dtype.get_field_index("bytes") >= 0


def caption_column(schema: pa.Schema, named: str | None, image_col: str) -> str | None:
    if named is not None:
        if named not in schema.names:
            raise ConfigError(f"no column {named!r} (--caption-col); the source has: {', '.join(schema.names)}")
        return named
    return next((n for n in CAPTION_COLUMN_NAMES if n in schema.names and n != image_col), None)


def stage_typed(table: pa.Table, spec: SourceSpec, image_col: str, caption_col: str | None, keys: KeyMaker,
                fail: pa.Array | None = None) -> pa.Table:
    """One batch of a Parquet/Arrow source as staged rows (image bytes taken as they are)."""
    image, path, path_reasons = _image_arrays(table.column(image_col), spec.local)
    missing = pc.and_(pc.is_null(image), pc.is_null(path)).to_pylist()
    reasons = fail.to_pylist() if fail is not None else [None] * table.num_rows
    reasons = [r or p or ("no_image" if m else None) for r, p, m in zip(reasons, path_reasons, missing)]
    given = table.column("key").to_pylist() if "key" in table.column_names else [None] * table.num_rows
    texts = table.column(caption_col).to_pylist() if caption_col else [None] * table.num_rows
    columns: dict[str, pa.Array] = {"key": pa.array([keys(k) for k in given], pa.string()),
                                    "source": pa.array([spec.label] * table.num_rows, pa.string())}
    columns.update(caption_arrays(texts, spec.format))
    for name in table.column_names:
        if name not in (image_col, "key"):
            columns[_column_name(name)] = table.column(name).combine_chunks()
    columns.update(_image=image, _file=path, _offset=pa.array([0] * table.num_rows, pa.int64()),
                   _size=pa.array([-1] * table.num_rows, pa.int64()), _fail_reason=pa.array(reasons, pa.string()))
    return pa.table(columns)


def _image_arrays(column: pa.ChunkedArray, root: Path | None) -> tuple[pa.Array, pa.Array, list[str | None]]:
    """(bytes, path, why a path cannot be read) of an image column: bytes, or Hugging Face's ``{bytes, path}``.

    A struct with a path and no bytes (an ``imagefolder`` dataset not yet embedded) names a file, read
    only when it lies inside the source folder: a path in a data file is untrusted, and one that leads
    elsewhere (``/home/.../.ssh/id_rsa``) is refused (``path_outside_source``)."""
    array = column.combine_chunks()
    nulls, none = pa.nulls(len(array), pa.string()), [None] * len(array)
    if not pa.types.is_struct(array.type):
        return array.cast(pa.binary()), nulls, none
    data = pc.struct_field(array, "bytes").cast(pa.binary())
    if array.type.get_field_index("path") < 0:
        return data, nulls, none
    paths: list[str | None] = []
    reasons: list[str | None] = []
    for stored, name in zip(data.to_pylist(), pc.struct_field(array, "path").to_pylist()):
        target = _inside_source(name, root) if stored is None and name else None
        reason = None
        if stored is None and name:
            reason = "path_outside_source" if target is None else None if target.is_file() else "missing_file"
        paths.append(str(target) if target is not None and reason is None else None)
        reasons.append(reason)
    return data, pa.array(paths, pa.string()), reasons


def _inside_source(name: str, root: Path | None) -> Path | None:
    """``name`` resolved against the source folder (symlinks followed), or None when it leads outside it."""
    if root is None:
        return None
    base = (root if root.is_dir() else root.parent).resolve()
    target = (base / name).resolve()
    return target if target.is_relative_to(base) else None


def _column_name(name: str) -> str:
    clash = name in RESERVED_COLUMNS or name in CAPTION_COLUMNS or name in ("source", *PRIVATE)
    return f"input_{name}" if clash else name


def parquet_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*.parquet")
                   if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts))
    if not files:
        raise ConfigError(f"{root} holds no .parquet files")
    return files


def read_parquet_source(spec: SourceSpec, img2dataset: bool = False) -> Iterator[pa.Table]:
    """Parquet files with an image column (img2dataset's ``jpg`` among them), batch by batch."""
    assert spec.local is not None
    keys = KeyMaker()
    for path in parquet_files(spec.local):
        handle = pq.ParquetFile(path)
        image_col = image_column(handle.schema_arrow, spec.image_col or ("jpg" if img2dataset else None))
        caption_col = caption_column(handle.schema_arrow, spec.caption_col, image_col)
        for batch in handle.iter_batches(batch_size=BATCH_ROWS):
            table = pa.Table.from_batches([batch])
            fail = img2dataset_failures(table) if img2dataset else None
            yield stage_typed(table, spec, image_col, caption_col, keys, fail)


def img2dataset_failures(table: pa.Table) -> pa.Array | None:
    """``img2dataset:<status>`` for rows img2dataset did not save (failed_to_download, failed_to_resize ...)."""
    if "status" not in table.column_names:
        return None
    return pa.array([None if s in (None, "success") else f"img2dataset:{s}"
                     for s in table.column("status").to_pylist()], pa.string())


def read_tar_source(spec: SourceSpec, max_json_depth: int) -> Iterator[pa.Table]:
    """Webdataset shards: one row per sample; img2dataset's companion Parquet adds the rows it failed."""
    assert spec.local is not None
    rows: list[dict[str, Any]] = []
    keys = KeyMaker()
    for tar in iter_tar_paths(spec.local):
        samples = {s.key: s for s in read_tar_index(tar, max_json_depth)}
        companion = tar.with_suffix(".parquet")
        meta_rows = pq.read_table(companion).to_pylist() if spec.format == "img2dataset" and companion.is_file() \
            else [dict(s.meta, key=s.key) for s in samples.values()]
        for meta in meta_rows:
            sample = samples.pop(str(meta.get("key")), None)
            rows.append(_tar_row(tar, sample, meta, spec, keys))
        rows += [_tar_row(tar, s, dict(s.meta, key=s.key), spec, keys) for s in samples.values()]
    if rows:
        yield unify_rows(rows)


def _tar_row(tar: Path, sample: Any, meta: dict[str, Any], spec: SourceSpec, keys: KeyMaker) -> dict[str, Any]:
    status = meta.get("status")
    fail = f"img2dataset:{status}" if spec.format == "img2dataset" and status not in (None, "success") else None
    if sample is None:
        fail = fail or "missing_file"
    elif sample.fail:
        fail = sample.fail
    elif sample.image_ext is None and not fail:
        fail = "no_image"
    caption = meta.get(spec.caption_col) if spec.caption_col else None
    if caption is None and sample is not None:
        caption = sample.caption
    if caption is None:
        caption = meta.get("caption")
    row = {_column_name(k): _scalar(v) for k, v in meta.items() if k != "key"}
    row.update(key=keys(meta.get("key")), source=spec.label, tar_file=tar.name,
               _file=str(tar) if sample and sample.image_ext else None,
               _offset=sample.offset if sample else 0, _size=sample.size if sample else -1, _fail_reason=fail)
    arrays = caption_arrays([caption], spec.format)
    row.update({name: arrays[name][0].as_py() for name in CAPTION_COLUMNS})
    return row


def _scalar(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def read_kohya_source(spec: SourceSpec) -> Iterator[pa.Table]:
    """A kohya folder: every image, its same-stem caption, its ``N_concept`` repeats."""
    from kdata.ingest.folder import folder_keys, list_images
    from kdata.interop.kohya import kohya_row

    assert spec.local is not None
    images = list_images(spec.local)
    keys = folder_keys(images)
    rows = []
    for rel in images:
        row = kohya_row(spec.local, rel, keys[rel])
        arrays = caption_arrays([row.pop("_caption")], spec.format)
        row.update({name: arrays[name][0].as_py() for name in CAPTION_COLUMNS}, source=spec.label, _fail_reason=None)
        rows.append(row)
    if rows:
        yield unify_rows(rows)
