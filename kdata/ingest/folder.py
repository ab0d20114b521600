"""``kcli ingest folder``: a local image tree with per-image sidecar JSON, or one metadata file.

Images are found by walking the folder (hidden files skipped) and keyed by their relative path. Each
image's metadata comes from a sidecar JSON (``name.json`` or ``name.jpg.json`` beside it, or under
``--sidecar-dir`` at the same relative path) or from one CSV/JSONL/Parquet file with a ``file_name``
column (Hugging Face ``imagefolder``'s ``metadata.jsonl`` convention, found by itself at the root). A
mapping (:mod:`kdata.ingest.mapping`) turns nested fields into columns. Metadata is read and mapped
once, when the input is staged, so every shard has the same columns; the runner's workers then only
decode and hash images.

A sidecar that cannot be used fails its image's row with a reason (``bad_sidecar:<why>``), one of them
being JSON nested deeper than ``max_json_depth`` (:mod:`kdata.jsondepth`); the rest of the folder goes on.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from kdata.blobs import BlobStore
from kdata.errors import ConfigError
from kdata.ingest.columns import IMAGE_FIELDS, RESERVED_COLUMNS, STORES, image_values, previous_values, with_values
from kdata.ingest.imaging import ImageOptions, ImageRejected, process_image
from kdata.ingest.mapping import SidecarMapping, apply_mapping
from kdata.ingest.plan import StagedShardSource, plan_sources, stage_input
from kdata.ingest.readers import detect_format, read_rows
from kdata.ingest.tables import unify_rows
from kdata.jsondepth import DEFAULT_MAX_JSON_DEPTH, json_too_deep
from kdata.runner import RunOptions, RunResult, Stage, run_stage
from kdata.schema import Status

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
AUTO_METADATA = ("metadata.jsonl", "metadata.csv", "metadata.parquet")


@dataclass
class FolderIngestConfig:
    root: str = ""
    mapping_name: str | None = None  # what --mapping named; ``mapping`` holds its resolved content
    mapping: SidecarMapping = field(default_factory=SidecarMapping)
    metadata: str | None = None  # one metadata file instead of sidecars
    file_col: str = "file_name"
    sidecar_dir: str | None = None
    source: str | None = None
    shard_size: int = 1000
    threads: int = 4
    store: str = "inline"
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH  # sidecars and a JSON-lines metadata file
    image: ImageOptions = field(default_factory=ImageOptions)

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise ValueError(f"store must be one of {', '.join(STORES)}, got {self.store!r}")
        if self.shard_size < 1 or self.threads < 1 or self.max_json_depth < 1:
            raise ValueError("shard_size, threads and max_json_depth must be >= 1")


class FolderIngestStage(Stage):
    name = "ingest-folder"

    def setup(self) -> None:
        config: FolderIngestConfig = self.config
        self.root = Path(config.root)
        self.pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="read")
        self.blobs = BlobStore(self.context.output_dir / "blobs") if config.store == "blobs" else None

    def process(self, batch: pa.Table) -> pa.Table:
        if "_previous_status" in batch.column_names:  # an output written before a crash: keep it as is
            return with_values(batch, previous_values(batch, IMAGE_FIELDS), IMAGE_FIELDS)
        rows = batch.select([c for c in ("file", "_fail_reason", "_reject_reason") if c in batch.column_names])
        values = list(self.pool.map(self.ingest_one, rows.to_pylist()))
        return with_values(batch, values, IMAGE_FIELDS)

    def ingest_one(self, row: dict[str, Any]) -> dict[str, Any]:
        if row.get("_fail_reason"):
            return {"status": Status.FAILED, "reason": row["_fail_reason"]}
        try:
            data = (self.root / row["file"]).read_bytes()
        except OSError:
            return {"status": Status.FAILED, "reason": "missing_file"}
        try:
            values = image_values(process_image(data, self.config.image), self.config.store, self.blobs)
        except ImageRejected as exc:
            return {"status": Status.FAILED, "reason": exc.reason}
        if row.get("_reject_reason"):
            values.update(status=Status.REJECTED, reason=row["_reject_reason"])
        return values


def list_images(root: Path) -> list[str]:
    """Relative POSIX paths of the image files under ``root``, sorted; hidden files and folders skipped."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in rel.parts) and path.is_file():
            found.append(rel.as_posix())
    return sorted(found)


def read_sidecar(root: Path, rel: str, sidecar_dir: Path | None,
                 max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> tuple[dict[str, Any], str | None]:
    """The image's sidecar JSON object (empty when it has none), or a failure reason."""
    image = Path(rel)
    bases = [sidecar_dir] if sidecar_dir is not None else [root]
    for base in bases:
        for candidate in (base / image.with_suffix(".json"), base / f"{rel}.json"):
            if candidate.is_file():
                return parse_sidecar(candidate, max_depth)
    return {}, None


def parse_sidecar(path: Path, max_depth: int) -> tuple[dict[str, Any], str | None]:
    """A sidecar file's JSON object, or ``{}`` and the reason it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return {}, f"bad_sidecar:{type(exc).__name__}"
    if json_too_deep(text, max_depth):
        return {}, f"bad_sidecar:too_deep(max_json_depth={max_depth})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return {}, f"bad_sidecar:{type(exc).__name__}"
    except RecursionError:  # max_json_depth raised past what the parser takes
        return {}, f"bad_sidecar:too_deep(max_json_depth={max_depth})"
    return (data, None) if isinstance(data, dict) else ({}, "bad_sidecar:not_an_object")


def load_metadata(path: Path, file_col: str, max_json_depth: int = DEFAULT_MAX_JSON_DEPTH) -> dict[str, dict[str, Any]]:
    """One metadata file as ``{relative file: record}``."""
    records: dict[str, dict[str, Any]] = {}
    for table in read_rows(path, detect_format(path), file_col, max_json_depth):
        if file_col not in table.column_names:
            have = ", ".join(table.column_names)
            raise ConfigError(f"{path} has no column {file_col!r} (--file-col); it has: {have}")
        for record in table.to_pylist():
            name = str(record.pop(file_col) or "").lstrip("./")
            records[name] = record
    return records


def folder_rows(config: FolderIngestConfig) -> Iterator[pa.Table]:
    """The staged input: one row per image (and per metadata record whose file is missing)."""
    root = Path(config.root)
    metadata = _metadata_for(config)
    sidecar_dir = Path(config.sidecar_dir) if config.sidecar_dir else None
    rows = []
    for rel in list_images(root):
        meta, fail = ((metadata.pop(rel, {}), None) if metadata is not None
                      else read_sidecar(root, rel, sidecar_dir, config.max_json_depth))
        rows.append(_row(rel, meta, config, fail))
    for rel, meta in sorted((metadata or {}).items()):
        rows.append(_row(rel, meta, config, "missing_file"))
    keys = folder_keys([row["file"] for row in rows])
    for row in rows:
        row["key"] = keys[row["file"]]
    if rows:
        yield unify_rows(rows)


def folder_keys(files: list[str]) -> dict[str, str]:
    """Keys are relative paths without the image suffix (``ink/06``), unless two files share a stem."""
    stems = [f.rsplit(".", 1)[0] if Path(f).suffix.lower() in IMAGE_SUFFIXES else f for f in files]
    taken = Counter(stems)
    return {f: stem if taken[stem] == 1 else f for f, stem in zip(files, stems)}


def _metadata_for(config: FolderIngestConfig) -> dict[str, dict[str, Any]] | None:
    if config.metadata:
        return load_metadata(Path(config.metadata), config.file_col, config.max_json_depth)
    for name in AUTO_METADATA:
        if (Path(config.root) / name).is_file():
            return load_metadata(Path(config.root) / name, config.file_col, config.max_json_depth)
    return None


def _row(rel: str, meta: dict[str, Any], config: FolderIngestConfig, fail: str | None) -> dict[str, Any]:
    mapped, reject = apply_mapping(meta, config.mapping)
    row = {f"meta_{k}" if k in RESERVED_COLUMNS or k == "file" else k: v for k, v in mapped.items()}
    row.setdefault("source", config.source or f"folder:{Path(config.root).name}")
    row.update(file=rel, _fail_reason=fail, _reject_reason=reject)
    return row


def ingest_folder(
    config: FolderIngestConfig,
    out: str | Path,
    options: RunOptions = RunOptions(),
) -> RunResult:
    """Ingest the folder ``config.root`` into ``out``; re-running resumes."""
    root = Path(config.root)
    if not root.is_dir():
        raise ConfigError(f"no such folder: {root}")
    fingerprint = folder_fingerprint(root)

    def planner(out_root: Path) -> list[StagedShardSource]:
        parts = stage_input(out_root, lambda: folder_rows(config), config.shard_size, fingerprint,
                            identity="key", key=lambda index, key: key)
        return plan_sources(out_root, parts, retry_budget=0)

    return run_stage(FolderIngestStage, config, planner, out, options=options, inputs=[root, config.metadata])


def folder_fingerprint(root: Path) -> str:
    """Names, sizes and modification times of the images: enough to notice a changed folder on resume."""
    digest = hashlib.sha256()
    for rel in list_images(root):
        stat = (root / rel).stat()
        digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
