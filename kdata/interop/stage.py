"""``kcli import``: a dataset made by another tool becomes an image manifest, resumable like every stage.

The source is read once into staged parts under ``OUT/_work/input`` (:mod:`kdata.ingest.plan`), keyed as
the source keys its samples; Parquet/Arrow bytes travel in the parts, tar members and files are read by
the workers from where they lie. Each image then goes through ingest's image handling
(:func:`kdata.ingest.imaging.process_image`: sniff, safe decode, geometry, perceptual hash, sha256) with
its bytes kept as they are. A sample that cannot be used is a ``failed`` row with a reason, never a crash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from kdata.blobs import BlobStore
from kdata.errors import ConfigError
from kdata.fspath import is_remote, local_input
from kdata.ingest.columns import IMAGE_FIELDS, STORES, image_values, previous_values, with_values
from kdata.ingest.imaging import ImageOptions, ImageRejected, process_image
from kdata.ingest.plan import StagedShardSource, plan_sources, stage_input
from kdata.interop.detect import check_format, detect_layout
from kdata.interop.sources import SourceSpec, read_kohya_source, read_parquet_source, read_tar_source
from kdata.interop.webdataset import read_member_bytes
from kdata.jsondepth import DEFAULT_MAX_JSON_DEPTH
from kdata.runner import BatchResult, RunOptions, RunResult, Stage, run_stage
from kdata.schema import Status

READ_COLUMNS = ("_image", "_file", "_offset", "_size", "_fail_reason")


@dataclass
class ImportConfig:
    source: str = ""  # a path, a remote URL (s3://, hf://, memory:// ...) or a Hub dataset id
    format: str = "auto"
    image_col: str | None = None
    caption_col: str | None = None
    split: str | None = None  # Hugging Face datasets: one split (default: all)
    shard_size: int = 1000
    threads: int = 4
    store: str = "inline"
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    image: ImageOptions = field(default_factory=ImageOptions)

    def __post_init__(self) -> None:
        check_format(self.format)
        if self.store not in STORES:
            raise ValueError(f"store must be one of {', '.join(STORES)}, got {self.store!r}")
        if self.shard_size < 1 or self.threads < 1:
            raise ValueError("shard_size and threads must be >= 1")


class ImportStage(Stage):
    name = "import"

    def setup(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=self.config.threads, thread_name_prefix="import")
        self.blobs = BlobStore(self.context.output_dir / "blobs") if self.config.store == "blobs" else None

    def process(self, batch: pa.Table) -> BatchResult:
        if "_previous_status" in batch.column_names:  # an output written before a crash: keep it as is
            values = previous_values(batch, IMAGE_FIELDS)
        else:
            rows = batch.select([c for c in READ_COLUMNS if c in batch.column_names]).to_pylist()
            values = list(self.pool.map(self.import_one, rows))
        return BatchResult(with_values(batch, values, IMAGE_FIELDS))

    def import_one(self, row: dict[str, Any]) -> dict[str, Any]:
        if row.get("_fail_reason"):
            return {"status": Status.FAILED, "reason": row["_fail_reason"]}
        data = row.get("_image")
        if data is None:
            try:
                data = read_member_bytes(row["_file"], int(row.get("_offset") or 0), int(row.get("_size", -1)))
            except EOFError:  # the tar ends inside this member
                return {"status": Status.FAILED, "reason": "broken_archive:truncated"}
            except (OSError, TypeError):
                return {"status": Status.FAILED, "reason": "missing_file"}
        try:
            return image_values(process_image(bytes(data), self.config.image), self.config.store, self.blobs)
        except ImageRejected as exc:
            return {"status": Status.FAILED, "reason": exc.reason}


def resolve_source(config: ImportConfig) -> SourceSpec:
    """Where the source is on this machine (a remote one is copied), and its format."""
    source = config.source
    local: Path | None = local_input(source) if is_remote(source) else Path(source)
    if not is_remote(source) and not local.exists():
        local = None
    fmt = detect_layout(source, local) if config.format == "auto" else config.format
    if local is None and fmt != "hf":
        raise ConfigError(f"no such file or folder: {source}")
    if local is not None and fmt == "hf" and not local.is_dir():
        raise ConfigError(f"{source}: a Hugging Face dataset is a save_to_disk folder or a Hub id")
    name = Path(source.rstrip("/")).name if local is None else local.name
    return SourceSpec(source, local, fmt, config.image_col, config.caption_col, config.split, f"{fmt}:{name}")


def source_tables(spec: SourceSpec, config: ImportConfig) -> Iterator[pa.Table]:
    if spec.format == "kohya":
        return read_kohya_source(spec)
    if spec.format == "webdataset" or (spec.format == "img2dataset" and _has_tars(spec.local)):
        return read_tar_source(spec, config.max_json_depth)
    if spec.format in ("img2dataset", "parquet"):
        if spec.local is not None and spec.local.is_dir() and spec.format == "parquet" and _is_saved_hf(spec.local):
            raise ConfigError(f"{spec.source} is a save_to_disk folder; use --format hf")
        return read_parquet_source(spec, img2dataset=spec.format == "img2dataset")
    from kdata.interop.hf import read_hf_source

    if spec.local is not None and not _is_saved_hf(spec.local):
        return read_parquet_source(spec)  # a Hub repository's Parquet files, read directly
    return read_hf_source(spec)


def _has_tars(local: Path | None) -> bool:
    return local is not None and (local.suffix == ".tar" or (local.is_dir() and any(local.glob("*.tar"))))


def _is_saved_hf(local: Path) -> bool:
    return (local / "dataset_dict.json").is_file() or (local / "state.json").is_file()


def source_fingerprint(spec: SourceSpec) -> str:
    """Names, sizes and modification times of the source's files (a Hub id: the id and split)."""
    digest = hashlib.sha256(f"{spec.format}\0{spec.source}\0{spec.split}\n".encode())
    if spec.local is not None:
        files = [spec.local] if spec.local.is_file() else sorted(p for p in spec.local.rglob("*") if p.is_file())
        for path in files:
            stat = path.stat()
            digest.update(f"{os.fspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def import_dataset(config: ImportConfig, out: str | Path, options: RunOptions = RunOptions()) -> RunResult:
    """Import ``config.source`` into the manifest at ``out``; re-running resumes."""
    spec = resolve_source(config)
    fingerprint = source_fingerprint(spec)

    def planner(out_root: Path) -> list[StagedShardSource]:
        parts = stage_input(out_root, lambda: _non_empty(source_tables(spec, config), spec), config.shard_size,
                            fingerprint, identity="key", key=lambda index, key: key)
        return plan_sources(out_root, parts, retry_budget=0)

    inputs = [spec.local] if spec.local is not None and not is_remote(config.source) else []
    resolved = replace(config, format=spec.format)  # the lineage says which reader ran
    return run_stage(ImportStage, resolved, planner, out, options=options, inputs=inputs)


def _non_empty(tables: Iterator[pa.Table], spec: SourceSpec) -> Iterator[pa.Table]:
    rows = 0
    for table in tables:
        rows += table.num_rows
        yield table
    if not rows:
        raise ConfigError(f"{spec.source} holds no samples (read as {spec.format})")
