"""Deterministic shards for source stages: stage the input once, then plan which shards to (re)run.

On the first run the input (a URL list, a folder listing) is read once and written under
``OUT/_work/input/`` as Parquet parts of ``shard_size`` rows, each row with a stable key
(``<row index>-<url hash>``), and an index with the input's fingerprint, written last. Every later run
reads those parts, so shards stay the same whatever happens to the input file; a changed input is
refused. (img2dataset stages its input the same way, as feather files, for the same reason.)

Each part is one runner shard. A shard whose output exists is re-read on the next run: rows that
failed for a retryable reason (timeouts, 429, 5xx, connection errors) are fetched again while their
``attempts`` stay within the retry budget; every other row passes through as it was. The runner's done
markers, atomic writes and lineage do the rest, and a key is never written twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kdata.atomic import atomic_path, write_json_atomic
from kdata.errors import ConfigError
from kdata.manifest import DATA_DIR, file_sha256, iter_shard_batches, shard_name
from kdata.runner.shard import WORK_DIR, done_marker
from kdata.schema import Status

INPUT_DIR = "input"
INDEX = "index.json"
RETRYABLE_PREFIXES = ("timeout:", "connection_error:", "dns_error", "http_error:429", "http_error:5")


def is_retryable(reason: str | None) -> bool:
    """Whether a failure may go away on its own (server busy, network), so a re-run tries it again."""
    return bool(reason) and reason.startswith(RETRYABLE_PREFIXES)  # type: ignore[union-attr]


def row_key(index: int, identity: str) -> str:
    """A stable, sortable, unique key: the input row index plus a short hash of the URL or file."""
    return f"{index:09d}-{hashlib.sha1(identity.encode()).hexdigest()[:8]}"


def input_fingerprint(path: Path) -> str:
    return file_sha256(path) if path.is_file() else hashlib.sha256(str(path).encode()).hexdigest()


def stage_input(
    out: Path,
    tables: Callable[[], Iterable[pa.Table]],
    shard_size: int,
    fingerprint: str,
    identity: str = "url",
    key: Callable[[int, str], str] = row_key,
) -> list[Path]:
    """Write the input as keyed parts under ``out/_work/input`` once; later runs reuse them."""
    root = out / WORK_DIR / INPUT_DIR
    index_path = root / INDEX
    if index_path.exists():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if index["fingerprint"] != fingerprint:
            raise ConfigError(f"the input changed since {out} was started; pass --overwrite to start again")
        return [root / name for name in index["parts"]]
    parts, rows = [], 0
    for table in _slices(tables(), shard_size):
        identities = table.column(identity).to_pylist()
        keys = [key(rows + i, str(value or "")) for i, value in enumerate(identities)]
        if "key" in table.column_names:
            table = table.drop_columns(["key"])
        table = table.add_column(0, pa.field("key", pa.string()), pa.array(keys, pa.string()))
        target = root / f"part-{len(parts):05d}.parquet"
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        parts.append(target)
        rows += table.num_rows
    write_json_atomic(index_path, {"fingerprint": fingerprint, "parts": [p.name for p in parts], "rows": rows})
    return parts


def _slices(tables: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    """Re-cut a stream of tables into tables of exactly ``size`` rows (the last may be shorter)."""
    pending: list[pa.Table] = []
    count = 0
    schema: pa.Schema | None = None
    for table in tables:
        schema = schema or table.schema
        table = table.cast(schema) if table.schema != schema else table
        pending.append(table)
        count += table.num_rows
        while count >= size:
            whole = pa.concat_tables(pending)
            yield whole.slice(0, size).combine_chunks()
            rest = whole.slice(size)
            pending, count = [rest], rest.num_rows
    if count:
        yield pa.concat_tables(pending).combine_chunks()


@dataclass(frozen=True)
class StagedShardSource:
    """One staged part; on a re-run, the shard's earlier output, with its decisions hidden from the runner.

    The runner sends rows without a ``status`` to the stage; an earlier output's ``status``/``reason``
    travel as ``_previous_status``/``_previous_reason`` so the stage can keep what is final.
    """

    part: Path
    previous: Path | None
    name: str

    def read(self, batch_size: int) -> Iterator[pa.Table]:
        path = self.previous or self.part
        for batch in iter_shard_batches(path, batch_size=batch_size):
            table = pa.Table.from_batches([batch])
            if self.previous is not None:
                names = ["_previous_status" if n == "status" else "_previous_reason" if n == "reason" else n
                         for n in table.column_names]
                table = table.rename_columns(names)
            yield table


def plan_sources(out: Path, parts: list[Path], retry_budget: int) -> list[StagedShardSource]:
    """One source per part; done shards with retryable failures left in the budget are reopened."""
    sources = []
    for index, part in enumerate(parts):
        name = shard_name(index)
        output = out / DATA_DIR / name
        marker = done_marker(out, name)
        previous = output if output.exists() else None
        if previous is not None and marker.exists() and needs_retry(previous, retry_budget):
            marker.unlink()  # the runner now redoes this shard, from its own earlier output
        sources.append(StagedShardSource(part, previous, name))
    return sources


def needs_retry(output: Path, retry_budget: int) -> bool:
    columns = pq.read_schema(output).names
    if "attempts" not in columns:
        return False
    table = pq.read_table(output, columns=["status", "reason", "attempts"])
    failed = table.filter(pc.equal(table.column("status"), Status.FAILED))
    reasons, attempts = failed.column("reason").to_pylist(), failed.column("attempts").to_pylist()
    return any(is_retryable(r) and (a or 0) <= retry_budget for r, a in zip(reasons, attempts))


def should_retry(previous: dict, retry_budget: int) -> bool:
    """For one row of an earlier output (see ``columns.previous_values``): fetch it again?"""
    return (
        previous.get("status") == Status.FAILED
        and is_retryable(previous.get("reason"))
        and int(previous.get("attempts") or 0) <= retry_budget
    )
