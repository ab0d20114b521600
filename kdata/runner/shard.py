"""Processing one shard: the unit of work, of skip-done and of crash recovery.

A shard's output file is written temp-then-rename, then its done marker (with the shard's counters);
a shard without a marker is redone from scratch on the next run, so a killed run never leaves half a
shard behind.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from kdata.atomic import write_json_atomic
from kdata.manifest import DATA_DIR, Lineage, shard_entry, write_shard
from kdata.runner.stage import BatchResult, ShardSource, Stage
from kdata.runner.stats import count_decisions, status_mask
from kdata.schema import Status, conform_table

WORK_DIR = "_work"


@dataclass
class ShardResult:
    name: str
    entry: dict[str, Any]  # {file, rows, sha256}
    counters: dict[str, int]
    skipped: bool = False


def done_marker(out_dir: Path, name: str) -> Path:
    return out_dir / WORK_DIR / f"{name}.done.json"


def load_done(out_dir: Path, name: str) -> ShardResult | None:
    """The result of a shard finished by an earlier run, or None when it must be (re)done."""
    marker = done_marker(out_dir, name)
    if not marker.exists() or not (out_dir / DATA_DIR / name).exists():
        return None
    data = json.loads(marker.read_text(encoding="utf-8"))
    return ShardResult(name, data["entry"], data["counters"], skipped=True)


def process_shard(stage: Stage, source: ShardSource, out_dir: Path, lineage: Lineage, batch_size: int) -> ShardResult:
    parts: list[pa.Table] = []
    counters: Counter[str] = Counter()
    for batch in source.read(batch_size):
        table, batch_counters = _process_batch(stage, batch)
        parts.append(table)
        counters.update(batch_counters)
    table = _concat(parts, stage)
    target = out_dir / DATA_DIR / source.name
    entry = shard_entry(target, write_shard(table, target, lineage, stage.kind))
    result = ShardResult(source.name, entry, dict(counters))
    write_json_atomic(done_marker(out_dir, source.name), {"entry": entry, "counters": result.counters})
    return result


def _process_batch(stage: Stage, batch: pa.Table) -> tuple[pa.Table, Counter[str]]:
    if "status" in batch.column_names:
        active_mask = status_mask(batch, Status.OK)
        active = batch.filter(active_mask)
        carried = batch.filter(pc.invert(active_mask))
    else:  # a source stage: every input row is new
        active, carried = batch, batch.slice(0, 0)
    counters = count_decisions(carried, carried=True) if carried.num_rows else Counter()
    if active.num_rows:
        output = stage.process(active)
        if isinstance(output, BatchResult):
            counters.update(output.counters)
            output = output.table
        _check_same_rows(active, output, stage.name)
        counters.update(count_decisions(output))
        parts = [output, carried] if carried.num_rows else [output]
    else:
        parts = [carried]
    table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    return _restore_order(table, batch), counters


def _check_same_rows(before: pa.Table, after: pa.Table, stage_name: str) -> None:
    """A stage must return every row it was given, once: the invariant that nothing is lost."""
    keys_in = before.column("key").to_pylist()
    keys_out = after.column("key").to_pylist()
    if len(keys_out) != len(set(keys_out)) or sorted(keys_in) != sorted(keys_out):
        raise RuntimeError(
            f"stage {stage_name!r} returned {len(keys_out)} rows for {len(keys_in)} input rows "
            "(rows must be kept or rejected, never added, dropped or duplicated)"
        )
    if "status" not in after.column_names:
        raise RuntimeError(f"stage {stage_name!r} returned rows without a status column")


def _restore_order(table: pa.Table, original: pa.Table) -> pa.Table:
    positions = pc.index_in(table.column("key"), value_set=original.column("key"))
    return table.take(pc.sort_indices(positions))


def _concat(parts: list[pa.Table], stage: Stage) -> pa.Table:
    parts = [conform_table(p, stage.kind) for p in parts if p.num_rows]
    if not parts:
        return stage.kind.required.empty_table()
    return pa.concat_tables(parts, promote_options="permissive").combine_chunks()
