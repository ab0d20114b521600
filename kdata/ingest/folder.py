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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from kdata.blobs import BlobStore
from kdata.config import AtLeastOne
from kdata.errors import ConfigError
from kdata.fspath import local_input
from kdata.ingest.columns import (
    IMAGE_FIELDS,
    RESERVED_COLUMNS,
    STORES,
    Store,
    image_values,
    previous_values,
    with_values,
)
from kdata.ingest.imaging import ImageOptions, ImageRejected, process_image
from kdata.ingest.mapping import MAPPING_NULL, SidecarMapping, apply_mapping, lookup
from kdata.ingest.plan import StagedShardSource, plan_sources, stage_input
from kdata.ingest.readers import detect_format, read_rows
from kdata.ingest.tables import unify_rows
from kdata.jsondepth import DEFAULT_MAX_JSON_DEPTH, json_too_deep
from kdata.runner import BatchResult, RunOptions, RunResult, Stage, run_stage
from kdata.schema import Status

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"})
AUTO_METADATA = ("metadata.jsonl", "metadata.csv", "metadata.parquet")
Sidecar = tuple[dict[str, Any], str | None]  # a JSON file's object, or {} and why it cannot be used
PRIVATE_COLUMNS = frozenset({"file", "annotation_file"})  # written by folder ingest itself


@dataclass
class FolderIngestConfig:
    root: str = ""
    mapping_name: str | None = None  # what --mapping named; ``mapping`` holds its resolved content
    mapping: SidecarMapping = field(default_factory=SidecarMapping)
    metadata: str | None = None  # one metadata file instead of sidecars
    file_col: str = "file_name"
    sidecar_dir: str | None = None
    source: str | None = None
    shard_size: AtLeastOne = 1000
    threads: AtLeastOne = 4
    store: Store = "inline"
    max_json_depth: AtLeastOne = DEFAULT_MAX_JSON_DEPTH  # sidecars and a JSON-lines metadata file
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

    def process(self, batch: pa.Table) -> BatchResult:
        if "_previous_status" in batch.column_names:  # an output written before a crash: keep it as is
            values = previous_values(batch, IMAGE_FIELDS)
        else:
            rows = batch.select([c for c in ("file", "_fail_reason", "_reject_reason") if c in batch.column_names])
            values = list(self.pool.map(self.ingest_one, rows.to_pylist()))
        return BatchResult(with_values(batch, values, IMAGE_FIELDS), mapping_counters(values))

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


def mapping_counters(values: list[dict[str, Any]]) -> Counter[str]:
    """``mapping_null/<column>`` for each column a mapping left null, beside the runner's ``failed/mapping_null``."""
    counts: Counter[str] = Counter()
    for reason in (v.get("reason") or "" for v in values):
        if reason.startswith(MAPPING_NULL):
            counts.update(f"mapping_null/{column}" for column in reason[len(MAPPING_NULL):].split(","))
    return counts


def list_images(root: Path) -> list[str]:
    """Relative POSIX paths of the image files under ``root``, sorted; hidden files and folders skipped."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in rel.parts) and path.is_file():
            found.append(rel.as_posix())
    return sorted(found)


def list_json(root: Path) -> list[str]:
    """Relative POSIX paths of the ``.json`` files under ``root``, sorted; hidden files and folders skipped."""
    found = []
    for path in root.rglob("*.json"):
        rel = path.relative_to(root)
        if not any(p.startswith(".") for p in rel.parts) and path.is_file():
            found.append(rel.as_posix())
    return sorted(found)


@dataclass
class Record:
    """What one staged row starts from: the file it names, its metadata, and why it fails already."""

    file: str
    meta: dict[str, Any] = field(default_factory=dict)
    fail: str | None = None
    annotation_file: str | None = None  # the JSON file ``meta`` came from (annotation-file layouts)


def annotated_records(images: list[str], base: Path, names_path: str,
                      max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> list[Record]:
    """Records for a tree whose annotation files name their images (AI-Hub: ``annotation.Paire``).

    Every JSON file under ``base`` is read once. One that lists image names at ``names_path`` describes
    each image it names; any other is an image's own sidecar (``x.json`` / ``x.jpg.json``), as without
    annotation files. A name is matched against the images found on disk (as a relative path, else as a
    file name), never opened itself. The outcomes that are not one image with one annotation each get a
    row with a reason: an image no file describes (``no_metadata``), a name matching no image
    (``missing_file``), a name matching several (``ambiguous_name:<name>``), an image named by several
    files (``several_annotations:<n>``), an unreadable file that is no image's sidecar (``bad_sidecar:<why>``).
    """
    parsed = {rel: parse_sidecar(base / rel, max_depth) for rel in list_json(base)}
    claims: dict[str, list[tuple[str, str | None]]] = {rel: [] for rel in images}  # image -> (annotation, ambiguity)
    missing: dict[str, str] = {}
    annotations: set[str] = set()  # files that name images: never an image's own sidecar
    records: list[Record] = []
    match = _name_matcher(images)
    for rel, (data, fail) in parsed.items():
        names = None if fail else lookup(data, names_path)
        if names is None:
            continue
        annotations.add(rel)
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            records.append(Record(rel, data, f"bad_annotation:no_image_names({names_path})", rel))
            continue
        for name in dict.fromkeys(n.strip().replace("\\", "/") for n in names):
            found = match(name)
            for image in found:
                claims[image].append((rel, name if len(found) > 1 else None))
            if not found:
                missing.setdefault(name, rel)
    used: set[str] = set()
    for image in images:
        records.append(_image_record(image, claims[image], parsed, annotations, used))
    taken = {r.file for r in records}
    records += [Record(name, parsed[rel][0], "missing_file", rel) for name, rel in missing.items() if name not in taken]
    records += [Record(rel, {}, fail, rel) for rel, (_, fail) in parsed.items() if fail and rel not in used]
    return records


def _name_matcher(images: list[str]) -> Callable[[str], list[str]]:
    by_path = set(images)
    by_name: dict[str, list[str]] = {}
    for rel in images:
        by_name.setdefault(PurePosixPath(rel).name, []).append(rel)
    return lambda name: [name] if name in by_path else by_name.get(PurePosixPath(name).name, [])


def _image_record(image: str, claims: list[tuple[str, str | None]], parsed: dict[str, Sidecar],
                  annotations: set[str], used: set[str]) -> Record:
    """The image's record: from the one annotation naming it, else from its own sidecar, else empty."""
    if claims:
        annotation, ambiguous = claims[0]
        fail = (f"several_annotations:{len(claims)}" if len(claims) > 1
                else f"ambiguous_name:{ambiguous}" if ambiguous else None)
        return Record(image, parsed[annotation][0], fail, annotation)
    for sidecar in (PurePosixPath(image).with_suffix(".json").as_posix(), f"{image}.json"):
        if sidecar in parsed and sidecar not in annotations:
            used.add(sidecar)
            meta, fail = parsed[sidecar]
            return Record(image, meta, fail, sidecar)
    return Record(image, {}, None, None)


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
    """The staged input: one row per image, per metadata record whose file is missing, per unusable annotation."""
    root = Path(config.root)
    images = list_images(root)
    metadata = _metadata_for(config)
    sidecar_dir = Path(config.sidecar_dir) if config.sidecar_dir else None
    if metadata is not None:
        records = [Record(rel, metadata.pop(rel, {})) for rel in images]
        records += [Record(rel, meta, "missing_file") for rel, meta in sorted(metadata.items())]
    elif config.mapping.images:
        records = annotated_records(images, sidecar_dir or root, config.mapping.images, config.max_json_depth)
    else:
        records = [Record(rel, *read_sidecar(root, rel, sidecar_dir, config.max_json_depth)) for rel in images]
    rows = [_row(record, config) for record in records]
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


def _metadata_path(config: FolderIngestConfig) -> Path | None:
    root = Path(config.root)
    path = Path(config.metadata) if config.metadata else next(
        (root / name for name in AUTO_METADATA if (root / name).is_file()), None)
    if path is not None and config.mapping.images:
        raise ConfigError(f"{path} is one metadata file for every image, but the mapping reads annotation files "
                          f"that name their images ({config.mapping.images}); use one or the other")
    return path


def _metadata_for(config: FolderIngestConfig) -> dict[str, dict[str, Any]] | None:
    path = _metadata_path(config)
    return load_metadata(path, config.file_col, config.max_json_depth) if path is not None else None


def _row(record: Record, config: FolderIngestConfig) -> dict[str, Any]:
    mapped = apply_mapping(record.meta, config.mapping)
    fail = record.fail or mapped.failed
    if fail is None and not record.meta and config.mapping.columns:
        fail = "no_metadata"  # the mapping has columns to fill, and nothing describes this image
    row = {f"meta_{k}" if k in RESERVED_COLUMNS or k in PRIVATE_COLUMNS else k: v for k, v in mapped.columns.items()}
    row.setdefault("source", config.source or f"folder:{Path(config.root).name}")
    if config.mapping.images:
        row["annotation_file"] = record.annotation_file
    row.update(file=record.file, _fail_reason=fail, _reject_reason=mapped.rejected)
    return row


def ingest_folder(
    config: FolderIngestConfig,
    out: str | Path,
    options: RunOptions = RunOptions(),
) -> RunResult:
    """Ingest the folder ``config.root`` (local, or remote through :mod:`kdata.fspath`) into ``out``; resumable."""
    root = local_input(config.root)
    config = replace(config, root=str(root))
    if not root.is_dir():
        raise ConfigError(f"no such folder: {root}")
    _metadata_path(config)  # one metadata file and annotation files that name images: refused before any write
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
