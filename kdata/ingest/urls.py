"""``kcli ingest urls``: download a URL list into an image manifest, img2dataset-compatible.

Work is split like img2dataset's: the input is cut into shards (:mod:`kdata.ingest.plan`), shards run
on ``--workers`` processes (decoding and resizing are CPU-bound), and inside a shard a thread pool
downloads and processes ``threads`` URLs at a time (downloads wait on the network). Every URL comes
out as a row: ``ok`` with the image, ``rejected`` (opt-out, blocked address) or ``failed`` with the
reason (``http_error:404``, ``timeout:read``, ``not_an_image:html`` ...).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from kdata.blobs import BlobStore
from kdata.config import AtLeastOne, NonNegativeInt
from kdata.fspath import local_input
from kdata.ingest.columns import FETCH_FIELDS, IMAGE_FIELDS, STORES, Store, image_values, previous_values, with_values
from kdata.ingest.fetch import FetchConfig, Fetcher
from kdata.ingest.imaging import ImageOptions, ImageRejected, process_image
from kdata.ingest.plan import StagedShardSource, input_fingerprint, plan_sources, should_retry, stage_input
from kdata.ingest.readers import FORMATS, read_url_list
from kdata.jsondepth import DEFAULT_MAX_JSON_DEPTH
from kdata.runner import RunOptions, RunResult, Stage, run_stage
from kdata.schema import Status

OUTPUT_FIELDS = pa.schema(list(IMAGE_FIELDS) + list(FETCH_FIELDS))


def default_workers() -> int:
    """Worker processes when none are asked for: the cores this process may run on.

    Decoding, resizing and re-encoding keep a core busy, and the Python parts of every download and row
    (HTTP parsing, the network guard, building the row) share one process's GIL, so one process cannot
    fill two cores (img2dataset likewise defaults to one process per core). Downloads wait on the
    network, so each process runs ``threads`` of them.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class UrlIngestConfig:
    input: str = ""
    input_format: Literal[FORMATS] | None = None  # type: ignore[valid-type]
    url_col: str = "url"
    caption_col: str | None = None
    source: str | None = None  # the ``source`` column for rows whose input has none (default: file name)
    shard_size: AtLeastOne = 1000
    threads: AtLeastOne = 16
    store: Store = "inline"  # image bytes inline in the shards, or in the content-addressed blob store
    retry_failed: NonNegativeInt = 2  # later runs that may retry a row failed for a retryable reason
    max_json_depth: AtLeastOne = DEFAULT_MAX_JSON_DEPTH  # a JSON-lines list nested deeper is refused
    image: ImageOptions = field(default_factory=ImageOptions)
    fetch: FetchConfig = field(default_factory=FetchConfig)

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise ValueError(f"store must be one of {', '.join(STORES)}, got {self.store!r}")
        if self.shard_size < 1 or self.threads < 1 or self.max_json_depth < 1 or self.retry_failed < 0:
            raise ValueError("shard_size, threads and max_json_depth must be >= 1 and retry_failed >= 0")


class UrlIngestStage(Stage):
    name = "ingest-urls"
    fork_safe = True  # urllib3, Pillow and pyarrow only: workers start in milliseconds instead of a second

    def setup(self) -> None:
        config: UrlIngestConfig = self.config
        self.fetcher = Fetcher(config.fetch)
        self.pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="fetch")
        self.blobs = BlobStore(self.context.output_dir / "blobs") if config.store == "blobs" else None

    def process(self, batch: pa.Table) -> pa.Table:
        config: UrlIngestConfig = self.config
        urls = batch.column("url").to_pylist()
        if "_previous_status" in batch.column_names:  # a re-run over this shard's earlier output
            values = previous_values(batch, OUTPUT_FIELDS)
            todo = [i for i, previous in enumerate(values) if should_retry(previous, config.retry_failed)]
        else:
            values = [{} for _ in urls]
            todo = list(range(len(urls)))
        attempts = [int(values[i].get("attempts") or 0) for i in todo]
        for i, fresh, tried in zip(todo, self.pool.map(self.ingest_one, [urls[i] for i in todo]), attempts):
            values[i] = {**fresh, "attempts": tried + 1}
        return with_values(batch, values, OUTPUT_FIELDS)

    def ingest_one(self, url: str | None) -> dict[str, Any]:
        """Download and process one URL into its output values (never raises for bad input)."""
        if not url:
            return {"status": Status.FAILED, "reason": "missing_url"}
        fetched = self.fetcher.fetch(url)
        base = {"http_status": fetched.http_status, "final_url": fetched.final_url}
        if fetched.reason is not None:
            status = Status.REJECTED if fetched.rejected else Status.FAILED
            return {**base, "status": status, "reason": fetched.reason}
        try:
            result = process_image(fetched.data or b"", self.config.image)
        except ImageRejected as exc:
            return {**base, "status": Status.FAILED, "reason": exc.reason}
        return {**base, **image_values(result, self.config.store, self.blobs)}


def ingest_urls(
    config: UrlIngestConfig,
    out: str | Path,
    options: RunOptions = RunOptions(),
) -> RunResult:
    """Run the URL ingest into ``out``; re-running resumes and retries retryable failures."""
    path = local_input(config.input)  # a remote list (s3://, memory:// ...) is read from a local copy
    fingerprint = input_fingerprint(path)

    def tables() -> Iterator[pa.Table]:
        source = config.source or path.name
        for table in read_url_list(path, config.url_col, config.caption_col, config.input_format,
                                   config.max_json_depth):
            if "source" not in table.column_names:
                table = table.append_column("source", pa.array([source] * table.num_rows, pa.string()))
            yield table

    def planner(root: Path) -> list[StagedShardSource]:
        parts = stage_input(root, tables, config.shard_size, fingerprint)
        return plan_sources(root, parts, config.retry_failed)

    return run_stage(UrlIngestStage, config, planner, out, options=options, inputs=[path])
