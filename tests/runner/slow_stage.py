"""A stage that behaves like a slow model (sleeps per batch) so a test can kill a run part way, the manifest
of keys it reads (``make_input``) and a buggy variant of it that loses a row (``LossyStage``).

Run as a script it processes ``INPUT`` into ``OUT`` with the real runner, like a CLI command would:
``python -m tests.runner.slow_stage INPUT OUT SECONDS [EXECUTOR [RAY_ADDRESS [WORKERS]]]``; it prints how
many shards it ran and skipped as JSON. WORKERS (default 2 with Ray, 1 locally) with an empty RAY_ADDRESS runs
local worker processes.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from kdata.manifest import Lineage, Manifest, open_manifest, write_manifest
from kdata.runner import RunOptions, Stage, manifest_sources, run_stage
from kdata.schema import IMAGE, Status, conform_table


@dataclass
class SlowConfig:
    seconds_per_batch: float = 0.05
    reject_every: int = 3  # every third row (by numeric key suffix) is rejected, so decisions vary


class SlowStage(Stage):
    name = "slow-test"

    def process(self, batch: pa.Table) -> pa.Table:
        time.sleep(self.config.seconds_per_batch)
        numbers = [int(k.split("-")[-1]) for k in batch.column("key").to_pylist()]
        rejected = [n % self.config.reject_every == 0 for n in numbers]
        status = pa.array([Status.REJECTED if r else Status.OK for r in rejected])
        reason = pa.array(["divisible" if r else None for r in rejected], pa.string())
        score = pc.multiply(pa.array(numbers, pa.float32()), pa.scalar(0.5, pa.float32()))
        batch = batch.set_column(batch.schema.get_field_index("status"), "status", status)
        batch = batch.set_column(batch.schema.get_field_index("reason"), "reason", reason)
        return batch.append_column("score", score)


class LossyStage(SlowStage):
    """A stage with a bug: it loses the first row of every batch."""

    name = "lossy"

    def process(self, batch: pa.Table) -> pa.Table:
        return super().process(batch).slice(1)


SEEN_BY_WORKERS = "a fresh import"  # a test sets it in the parent: forked workers see that, spawned ones this


class ForkableSlowStage(SlowStage):
    """``SlowStage`` marked fork-safe, recording which value of ``SEEN_BY_WORKERS`` its worker saw."""

    name = "forkable-slow-test"
    fork_safe = True

    def process(self, batch: pa.Table) -> pa.Table:
        table = super().process(batch)
        return table.append_column("seen", pa.array([SEEN_BY_WORKERS] * table.num_rows, pa.string()))


def make_input(root: Path, shards: int = 4, rows: int = 6, failed: tuple[str, ...] = ()) -> Manifest:
    """``shards`` shards of ``rows`` rows keyed row-0, row-1, …; the ``failed`` keys failed a download."""
    tables = []
    for s in range(shards):
        keys = [f"row-{s * rows + i}" for i in range(rows)]
        status = [Status.FAILED if k in failed else Status.OK for k in keys]
        reason = ["download:404" if k in failed else None for k in keys]
        tables.append(conform_table(pa.table({"key": keys, "status": status, "reason": reason}), IMAGE))
    return write_manifest(root, tables, IMAGE, Lineage(stage="source", config={}))


def main(source: str, out: str, seconds: float, executor: str = "local", ray_address: str | None = None,
         workers: str | None = None) -> None:
    parent = open_manifest(source)
    count = int(workers) if workers else 2 if executor == "ray" else 1
    result = run_stage(SlowStage, SlowConfig(seconds_per_batch=seconds), manifest_sources(parent), out, parent=parent,
                       options=RunOptions(batch_size=4, executor=executor, ray_address=ray_address or None,
                                          workers=count))
    print(json.dumps({"shards_run": result.shards_run, "shards_skipped": result.shards_skipped}))


def fork_check(root: str) -> None:
    """Print what the workers of a fork-safe stage saw, run from this fresh process (no thread but the main
    one): once with a progress callback that starts a thread at the first event, as the CLI's bars do, then
    again while that thread is still alive. ``python -m tests.runner.slow_stage fork-check ROOT``."""
    import threading

    global SEEN_BY_WORKERS
    SEEN_BY_WORKERS = "set in the parent"
    parent = make_input(Path(root) / "in")
    bars = threading.Event()
    drawing: list[threading.Thread] = []

    def progress(event: object) -> None:
        if not drawing:
            drawing.append(threading.Thread(target=bars.wait, daemon=True))
            drawing[0].start()

    seen = {}
    for name, callback in (("first", progress), ("while_a_thread_lives", None)):
        result = run_stage(ForkableSlowStage, SlowConfig(seconds_per_batch=0), manifest_sources(parent),
                           Path(root) / name, parent=parent, options=RunOptions(workers=2, progress=callback))
        seen[name] = sorted(set(result.manifest.read_table(columns=["seen"]).column("seen").to_pylist()))
    bars.set()
    print(json.dumps(seen))


if __name__ == "__main__":
    if sys.argv[1] == "fork-check":
        fork_check(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2], float(sys.argv[3]), *sys.argv[4:7])
