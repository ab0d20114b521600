"""Manifest I/O: a directory of Parquet shards plus a small JSON descriptor.

Layout::

    DIR/manifest.json          descriptor: kind, schema version, shards, row count, lineage, blob dirs
    DIR/data/<shard>.parquet   the rows; each file also carries the lineage in its key-value metadata
    DIR/stats.json             merged counters of the stage that wrote it
    DIR/blobs/                 content-addressed image bytes, when a stage stores them out of line
    DIR/README.md              YAML for ``datasets.load_dataset(DIR)`` (see :mod:`kdata.hf_layout`)

Reading streams record batches shard by shard, so memory stays flat however large the manifest is.
Every file is written temp-then-rename (see :mod:`kdata.atomic`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kdata import __version__
from kdata.atomic import atomic_path, write_json_atomic
from kdata.blobs import BlobDir, RefusedBlobDir, classify_blob_dirs
from kdata.descriptor import check_descriptor, check_shard_files
from kdata.errors import ConfigError, ManifestError, ManifestSchemaError
from kdata.fspath import local_input
from kdata.hf_layout import write_dataset_card
from kdata.schema import SCHEMA_VERSION, ManifestKind, Status, get_kind, validate_schema

DESCRIPTOR = "manifest.json"
DATA_DIR = "data"
BLOB_DIR = "blobs"
LINEAGE_KEY = b"kcli.lineage"


@dataclass
class Lineage:
    """How an output was made: enough to trace any dataset back to its inputs."""

    stage: str
    config: dict[str, Any]
    parent: str | None = None  # path of the parent manifest, as given
    parent_fingerprint: str | None = None
    kcli_version: str = __version__
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "config": self.config,
            "parent": self.parent,
            "parent_fingerprint": self.parent_fingerprint,
            "kcli_version": self.kcli_version,
            "created": self.created,
        }


@dataclass
class Manifest:
    """An opened manifest: its directory, parsed descriptor, and the blob stores the user named for it.

    A Manifest is path-like (``os.fspath`` gives its folder) and :func:`open_manifest` returns one it is
    given as it is, so a command can open its input with ``--blob-dir`` folders and hand the Manifest to
    any library function that takes a manifest path.
    """

    path: Path
    descriptor: dict[str, Any]
    named_blob_dirs: tuple[Path, ...] = ()

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def kind(self) -> ManifestKind:
        return get_kind(self.descriptor["kind"])

    @property
    def shard_paths(self) -> list[Path]:
        return [self.path / DATA_DIR / s["file"] for s in self.descriptor["shards"]]

    @property
    def num_rows(self) -> int:
        return int(self.descriptor["num_rows"])

    @property
    def fingerprint(self) -> str:
        return str(self.descriptor["fingerprint"])

    @property
    def lineage_chain(self) -> list[dict[str, Any]]:
        """This manifest's lineage first, then its parent's, back to the first stage."""
        return [self.descriptor["lineage"], *self.descriptor.get("ancestors", [])]

    @cached_property
    def blob_dirs(self) -> list[BlobDir]:
        """Where ``image_path`` blobs may be read: the descriptor's blob dirs, each a resolved path when kcli
        may read it or a :class:`~kdata.blobs.RefusedBlobDir` (see :mod:`kdata.blobs`), then the named ones."""
        return classify_blob_dirs(self.descriptor.get("blob_dirs", []), self.path, self.named_blob_dirs)

    def schema(self) -> pa.Schema:
        if not self.shard_paths:
            return self.kind.required
        return pq.read_schema(self.shard_paths[0])

    def iter_batches(
        self,
        columns: Sequence[str] | None = None,
        batch_size: int = 8192,
        only_ok: bool = False,
    ) -> Iterator[pa.RecordBatch]:
        """Stream record batches over every shard; ``only_ok`` keeps rows whose status is ``ok``."""
        for shard in self.shard_paths:
            yield from iter_shard_batches(shard, columns, batch_size, only_ok)

    def read_table(self, columns: Sequence[str] | None = None, only_ok: bool = False) -> pa.Table:
        """Read everything into memory: for small manifests and tests, never for whole-dataset scans."""
        batches = list(self.iter_batches(columns, only_ok=only_ok))
        if not batches:
            schema = self.schema()
            if columns is not None:
                schema = pa.schema([schema.field(c) for c in columns])
            return schema.empty_table()
        return pa.Table.from_batches(batches)


def iter_shard_batches(
    shard: Path, columns: Sequence[str] | None = None, batch_size: int = 8192, only_ok: bool = False
) -> Iterator[pa.RecordBatch]:
    wanted = list(columns) if columns is not None else None
    read_cols = wanted
    if only_ok and wanted is not None and "status" not in wanted:
        read_cols = [*wanted, "status"]
    try:
        parquet = pq.ParquetFile(shard)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{shard} is not a readable Parquet file: {exc}") from None
    for batch in parquet.iter_batches(batch_size=batch_size, columns=read_cols):
        if only_ok:
            mask = pc.equal(batch.column("status"), Status.OK)
            batch = batch.filter(mask)
            if wanted is not None and read_cols != wanted:
                batch = batch.select(wanted)
        yield batch


def open_manifest(
    path: str | os.PathLike[str] | Manifest, blob_dirs: Sequence[str | os.PathLike[str]] = (), check_rows: bool = True
) -> Manifest:
    """Open a manifest directory, or raise :class:`ManifestError` with a one-line reason.

    ``blob_dirs`` are blob stores the user named (``--blob-dir``): their blobs may be read although they
    lie outside the manifest and kcli did not create them. A :class:`Manifest` is returned as it is, with
    ``blob_dirs`` added. Opening checks the descriptor, keeps every shard inside the folder, and reads each
    shard's schema and ``status`` column, so a broken manifest is refused before any stage starts.
    ``check_rows=False`` leaves the ``status`` columns unread, for a reader that reads them anyway
    (``kcli inspect`` shows every status value in its funnel).
    """
    named = _named_blob_dirs(blob_dirs)
    if isinstance(path, Manifest):
        if not named:
            return path
        return Manifest(path.path, path.descriptor, _dedupe_paths([*path.named_blob_dirs, *named]))
    root = local_input(path)  # a remote manifest (s3://, hf://, memory:// ...) is read from a local copy
    if not root.exists():
        raise ManifestError(f"no such manifest: {root}")
    if root.is_file():
        kind = "Parquet file" if _looks_like_parquet(root) else "file"
        raise ManifestError(f"{root} is a {kind}, not a manifest directory (expected a folder with {DESCRIPTOR})")
    descriptor_path = root / DESCRIPTOR
    if not descriptor_path.exists():
        raise ManifestError(f"{root} is not a kcli manifest: {DESCRIPTOR} is missing")
    try:
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{descriptor_path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ManifestError(f"{descriptor_path} is not a manifest descriptor: its JSON is nested too deeply") from None
    check_descriptor(descriptor, descriptor_path)
    check_shard_files(descriptor["shards"], root, DATA_DIR, descriptor_path)
    manifest = Manifest(root, descriptor, named)
    for shard in manifest.shard_paths:
        if not shard.exists():
            raise ManifestError(f"{root}: shard {shard.name} listed in {DESCRIPTOR} is missing")
    for shard in manifest.shard_paths:  # the footers catch data that is not Parquet or not this kind
        read_parquet_shard_checked(shard, manifest.kind)
        if check_rows:
            check_status_values(shard)
    return manifest


def _named_blob_dirs(folders: Sequence[str | os.PathLike[str]]) -> tuple[Path, ...]:
    named = []
    for folder in folders:
        path = Path(folder)
        if not path.is_dir():
            raise ConfigError(f"--blob-dir {path}: no such folder")
        named.append(path.resolve())
    return _dedupe_paths(named)


def _dedupe_paths(paths: Sequence[Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(paths))


def check_status_values(shard: Path) -> None:
    """Refuse a shard whose ``status`` column holds a null or a value outside :class:`Status` (one line)."""
    row = 0
    for batch in _status_batches(shard):
        column = batch.column(0)
        bad = pc.invert(pc.fill_null(pc.is_in(column, value_set=pa.array(Status.ALL, column.type)), False))
        if pc.any(bad).as_py():
            index = pc.index(bad, True).as_py()
            value = column[index].as_py()
            shown = "a null" if value is None else repr(value)[:60]
            raise ManifestError(
                f"{shard}: column 'status' holds {shown} on row {row + index}; valid values: {', '.join(Status.ALL)}"
            )
        row += batch.num_rows


def _status_batches(shard: Path) -> Iterator[pa.RecordBatch]:
    try:
        yield from pq.ParquetFile(shard).iter_batches(batch_size=65536, columns=["status"])
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{shard} is not a readable Parquet file: {exc}") from None


def verify_shard_hashes(manifest: Manifest) -> None:
    """Check each shard file against the sha256 its descriptor entry records (before publishing it)."""
    for entry, path in zip(manifest.descriptor["shards"], manifest.shard_paths):
        if file_sha256(path) != entry["sha256"]:
            raise ManifestError(
                f"{manifest.path}: shard {entry['file']} does not match its sha256 in {DESCRIPTOR} (it changed "
                "after the manifest was written); re-run the stage that wrote the manifest"
            )


def _looks_like_parquet(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def read_parquet_shard_checked(path: Path, kind: ManifestKind) -> pa.Schema:
    """Read a shard's schema, turning unreadable files into :class:`ManifestError`."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{path} is not a readable Parquet file: {exc}") from None
    validate_schema(schema, kind, where=str(path))
    return schema


def write_shard(table: pa.Table, target: Path, lineage: Lineage, kind: ManifestKind) -> str:
    """Validate and write one shard atomically; return the sha256 of the written file."""
    validate_schema(table.schema, kind, where=target.name)
    metadata = dict(table.schema.metadata or {})
    metadata[LINEAGE_KEY] = json.dumps(lineage.to_dict(), ensure_ascii=False, default=str).encode()
    table = table.replace_schema_metadata(metadata)
    codecs = column_codecs(table.schema)
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        hashing = _HashingWriter(handle)  # the hash of the bytes as written, instead of reading the file again
        pq.write_table(table, hashing, compression=codecs,
                       use_dictionary=[path for path, codec in codecs.items() if codec != "none"])
    return hashing.digest.hexdigest()


def column_codecs(schema: pa.Schema) -> dict[str, str]:
    """Parquet compression per leaf column: none for top-level binary columns, zstd for the rest.

    Binary columns hold encoded images (JPEG, PNG, WebP are compressed already): zstd and dictionary
    encoding spend time on them and gain nothing. Parquet names codecs per leaf path (``col.list.element``),
    so the paths are read from the Parquet schema this Arrow schema becomes, not guessed.
    """
    binary = {f.name for f in schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)}
    sink = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), sink)
    parquet_schema = pq.ParquetFile(pa.BufferReader(sink.getvalue())).schema
    paths = [parquet_schema.column(i).path for i in range(len(parquet_schema))]
    return {path: "none" if path in binary else "zstd" for path in paths}


class _HashingWriter:
    """A binary file that hashes what passes through it (pyarrow writes to any object with ``write``)."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.digest, self.closed = handle, hashlib.sha256(), False

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def shard_entry(path: Path, sha256: str) -> dict[str, Any]:
    return {"file": path.name, "rows": pq.ParquetFile(path).metadata.num_rows, "sha256": sha256}


def fingerprint_of(shards: Sequence[dict[str, Any]], kind: str) -> str:
    """A manifest's identity: the hash of its kind and of every shard's content hash, in order."""
    digest = hashlib.sha256(kind.encode())
    for shard in shards:
        digest.update(f"{shard['file']}:{shard['sha256']}".encode())
    return digest.hexdigest()


def finalize_manifest(
    root: Path,
    kind: ManifestKind,
    shards: Sequence[dict[str, Any]],
    lineage: Lineage,
    parent: Manifest | None = None,
    blob_dirs: Sequence[BlobDir] = (),
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Write the descriptor last, which is what makes a directory a complete manifest.

    The descriptor lists ``blob_dirs`` and the parent's, refused ones included: reading the child with
    the same stores named reads the same blobs."""
    all_blob_dirs = [d.path if isinstance(d, RefusedBlobDir) else d
                     for d in [*blob_dirs, *(parent.blob_dirs if parent else [])]]
    descriptor: dict[str, Any] = {
        "kind": kind.name,
        "schema_version": SCHEMA_VERSION,
        "kcli_version": __version__,
        "shards": list(shards),
        "num_rows": sum(int(s["rows"]) for s in shards),
        "fingerprint": fingerprint_of(shards, kind.name),
        "lineage": lineage.to_dict(),
        "ancestors": parent.lineage_chain if parent else [],
        "blob_dirs": _dedupe([os.path.relpath(d, root) for d in all_blob_dirs]),
        **(extra or {}),
    }
    first = root / DATA_DIR / shards[0]["file"] if shards else None
    write_dataset_card(root, pq.read_schema(first) if first else kind.required, kind.name)
    write_json_atomic(root / DESCRIPTOR, descriptor)
    return Manifest(root, descriptor, parent.named_blob_dirs if parent else ())


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def write_manifest(
    root: str | os.PathLike[str],
    tables: Sequence[pa.Table],
    kind: ManifestKind,
    lineage: Lineage,
    parent: Manifest | None = None,
    blob_dirs: Sequence[Path] = (),
) -> Manifest:
    """Write small in-memory tables as a manifest (one shard per table). Stages use the runner instead."""
    root = Path(root)
    entries = []
    for index, table in enumerate(tables):
        target = root / DATA_DIR / shard_name(index)
        entries.append(shard_entry(target, write_shard(table, target, lineage, kind)))
    return finalize_manifest(root, kind, entries, lineage, parent, blob_dirs)


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def check_columns(manifest: Manifest, columns: Sequence[str]) -> None:
    """Fail before any work starts when a stage needs columns the manifest does not have."""
    names = set(manifest.schema().names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise ManifestSchemaError(f"{manifest.path}: missing column {missing[0]!r}; it has: {', '.join(sorted(names))}")
