"""How shards are run: in this process, on local worker processes, or on Ray actors.

The executor only schedules shards; what a shard does lives in :mod:`kdata.runner.shard`. Each worker
builds the stage and calls ``setup`` once, so a model is loaded once per worker, not per batch. The Ray
executor (:mod:`kdata.runner.ray_executor`, an optional extra) fits behind the same ``run`` signature.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kdata.lifetime import die_with_parent, freeze_at_exit
from kdata.manifest import Lineage
from kdata.runner.shard import ShardResult, process_shard
from kdata.runner.stage import ShardSource, Stage, StageContext


@dataclass
class StageSpec:
    """Everything a worker needs to build the stage itself (all picklable)."""

    stage_cls: type[Stage]
    config: Any
    context: StageContext
    lineage: Lineage
    batch_size: int

    def build(self, worker_index: int = 0) -> Stage:
        context = StageContext(self.context.output_dir, self.context.blob_dirs, worker_index)
        stage = self.stage_cls(self.config, context)
        stage.setup()
        return stage


Started = Callable[[], None]


def _nothing() -> None:
    return None


class Executor(Protocol):
    def run(self, spec: StageSpec, sources: Sequence[ShardSource],
            started: Started = _nothing) -> Iterator[ShardResult]:
        """Yield each shard's result as it finishes; call ``started`` once the workers exist."""
        ...


class InProcessExecutor:
    """Runs shards one after another in this process: simplest to debug, no start-up cost."""

    def run(self, spec: StageSpec, sources: Sequence[ShardSource],
            started: Started = _nothing) -> Iterator[ShardResult]:
        started()
        stage = spec.build()
        for source in sources:
            yield process_shard(stage, source, spec.context.output_dir, spec.lineage, spec.batch_size)


_WORKER_STAGE: Stage | None = None
_WORKER_SPEC: StageSpec | None = None


def _init_worker(spec: StageSpec, counter: Any, parent_pid: int) -> None:
    global _WORKER_STAGE, _WORKER_SPEC
    # A killed kcli must not leave its workers (each may hold a model) running with parent PID 1. Their
    # end also ends multiprocessing's resource tracker, which exits once no process holds its pipe.
    die_with_parent(parent_pid)
    freeze_at_exit()  # a spawned worker leaves through the interpreter's exit, and the run waits for it
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    _WORKER_SPEC = spec
    _WORKER_STAGE = spec.build(worker_index=index)


def _run_in_worker(source: ShardSource) -> ShardResult:
    assert _WORKER_STAGE is not None and _WORKER_SPEC is not None
    spec = _WORKER_SPEC
    return process_shard(_WORKER_STAGE, source, spec.context.output_dir, spec.lineage, spec.batch_size)


class ProcessExecutor:
    """Runs shards on ``workers`` processes, which end when this process dies (:func:`kdata.lifetime.die_with_parent`).

    Workers are spawned (a fresh interpreter that imports what the stage needs), except that a stage marked
    ``fork_safe`` has them forked when that is safe (:func:`start_method`).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, spec: StageSpec, sources: Sequence[ShardSource],
            started: Started = _nothing) -> Iterator[ShardResult]:
        context = multiprocessing.get_context(start_method(spec.stage_cls))
        counter = context.Value("i", 0)
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_init_worker,
            initargs=(spec, counter, os.getpid()),
        ) as pool:
            # With fork, every worker is forked at the first submit, before the pool starts threads of its own.
            pending: set[Future[ShardResult]] = {pool.submit(_run_in_worker, s) for s in sources}
            started()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()


def start_method(stage_cls: type[Stage]) -> str:
    """``fork`` for a ``fork_safe`` stage started from a process with no other thread, on Linux; else ``spawn``.

    Spawn is the rule because torch's threads do not survive a fork. A fork copies only the calling thread:
    a lock another thread held at that instant (a progress bar writing to the terminal, say) stays held in the
    child forever, so any other live thread rules a fork out. Native threads (Arrow's pool, the BLAS's) are
    re-created by their libraries' fork handlers. macOS's system libraries are not fork-safe at all.
    """
    if stage_cls.fork_safe and sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


EXECUTORS = ("local", "ray")


def make_executor(name: str, workers: int, address: str | None = None) -> Executor:
    """The executor called ``name``; ``address`` (a Ray cluster) is only meaningful for ``ray``."""
    from kdata.errors import ConfigError

    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    if name == "ray":
        from kdata.runner.ray_executor import RayExecutor

        return RayExecutor(address=address, concurrency=workers)
    if address:
        raise ConfigError("--ray-address is only used with --executor ray")
    return ProcessExecutor(workers) if workers > 1 else InProcessExecutor()


def executor_session(name: str, workers: int = 1, address: str | None = None) -> AbstractContextManager[None]:
    """Hold the engine across several :func:`kdata.runner.run_stage` calls of one command (a multi-pass
    stage such as ``kcli filter``): with ``ray``, one Ray for all of them instead of one start per pass."""
    make_executor(name, workers, address)  # the same one-line errors, before anything starts
    if name != "ray":
        return contextlib.nullcontext()
    from kdata.runner.ray_executor import ray_session

    return ray_session(address, workers)


def output_dir_of(spec: StageSpec) -> Path:
    return spec.context.output_dir
