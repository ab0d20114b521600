"""Run shards on Ray: one actor per worker slot, each builds the stage and calls ``setup()`` once.

The executor only schedules :func:`kdata.runner.shard.process_shard`, so every rule of a local run holds
unchanged: finished shards are skipped by their done markers, outputs are written temp-then-rename,
rejected and failed rows come out with their reasons, stats merge the same way and the runner writes
the lineage. A Ray run and a local run of the same command give the same manifest.

Why actors and not Ray Data's ``map_batches``: kcli's unit of work, of skip-done and of crash recovery
is a *shard* (one input file in, one output file with its lineage, checksum and done marker out,
written by ``process_shard``). Ray Data's unit is a *block*: it splits and fuses input files to suit its
streaming executor and writes outputs under names of its own with no completion markers, so letting it
read and write the data would mean re-implementing resumable shard writes on top of it. The other way
to use it, ``map_batches(ShardWorker, batch_size=1, compute=ActorPoolStrategy(...))`` over a dataset of
shard names, uses Ray Data only as a scheduler: it adds a streaming executor, Arrow conversion of the
results and progress bars to silence, and its actors cannot learn a worker index. A list of shards
handed to a fixed set of actors needs none of that, so this module uses Ray core directly: each actor
is created with the resources the stage needs (``num_gpus`` only where the stage asks for a GPU and
the cluster has one), set up once, then handed the next shard whenever it finishes one. An actor that
waits for resources never blocks the run (shards go to the actors that are up), and an actor lost with
its node is restarted and its shard redone, which is safe because a shard's writes are idempotent.

On a cluster of several machines every worker writes into the run's output directory and reads the
input shards and blobs by path, so those paths must be on storage every node mounts (NFS, a cluster
file system, or a mounted object store bucket), and kcli must be installed on every node.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

from kdata.deps import install_command
from kdata.errors import ConfigError, KcliError, MissingDependencyError
from kdata.runner.executors import StageSpec, Started, _nothing
from kdata.runner.shard import ShardResult, process_shard
from kdata.runner.stage import ShardSource, Stage

INSTALL_COMMAND = install_command("ray")
# An actor whose process or node dies is restarted and its shard redone (shard writes are idempotent);
# a stage that raises is a bug or a configuration error and is not retried.
MAX_RESTARTS = 3


def import_ray() -> ModuleType:
    """Ray, or a one-line error that names the install command when the optional extra is missing."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(f"--executor ray needs Ray, which is not installed: {INSTALL_COMMAND}") from None
    return ray


def actor_options(
    spec: StageSpec, num_cpus: float, num_gpus: float | None, cluster_gpus: float
) -> dict[str, Any]:
    """Ray resources for one actor; a GPU is declared only where the stage wants one and one exists."""
    if num_gpus is None:
        num_gpus = 1.0 if cluster_gpus > 0 and spec.stage_cls.wants_gpu(spec.config) else 0.0
    return {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_restarts": MAX_RESTARTS, "max_task_retries": MAX_RESTARTS}


class ShardWorker:
    """The body of one Ray actor: builds the stage once, then processes the shards it is handed."""

    def __init__(self, spec: StageSpec, worker_index: int) -> None:
        self.spec = spec
        self.worker_index = worker_index
        self.stage: Stage | None = None

    def setup(self) -> None:
        if self.stage is None:
            self.stage = self.spec.build(worker_index=self.worker_index)

    def process(self, source: ShardSource) -> ShardResult:
        self.setup()  # a no-op, except in an actor restarted after its process died
        assert self.stage is not None
        spec = self.spec
        return process_shard(self.stage, source, spec.context.output_dir, spec.lineage, spec.batch_size)


class RayExecutor:
    """Runs shards on ``concurrency`` Ray actors, on a cluster at ``address`` or on a local Ray.

    ``address`` is anything ``ray.init`` takes (``ray://host:10001``, ``host:6379``, ``auto``). Without
    one, the cluster in ``$RAY_ADDRESS`` is used if set (as inside ``ray job submit``), else a private
    local Ray is started for this run and stopped after it. A Ray already initialised in this process
    (by a caller or a test) is used as it is. ``num_gpus=None`` means one GPU per actor for a stage
    that wants a GPU, where the cluster has GPUs.
    """

    def __init__(
        self, address: str | None = None, concurrency: int = 1, num_cpus: float = 1.0, num_gpus: float | None = None
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"the Ray executor needs at least one worker, got {concurrency}")
        self.ray = import_ray()  # fail before anything is written when Ray is missing
        self.address = address
        self.concurrency = concurrency
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus

    def run(self, spec: StageSpec, sources: Sequence[ShardSource],
            started: Started = _nothing) -> Iterator[ShardResult]:
        with ray_session(self.address, self.concurrency * self.num_cpus, ray=self.ray):
            started()
            yield from self._run(spec, sources)

    def _run(self, spec: StageSpec, sources: Sequence[ShardSource]) -> Iterator[ShardResult]:
        ray = self.ray
        actors: list[Any] = []
        try:
            gpus = float(ray.cluster_resources().get("GPU", 0))
            options = actor_options(spec, self.num_cpus, self.num_gpus, gpus)
            worker_cls = ray.remote(ShardWorker).options(**options)
            actors = [worker_cls.remote(spec, index) for index in range(min(self.concurrency, len(sources)))]
            yield from _dispatch(ray, actors, sources)
        finally:
            for actor in actors:
                ray.kill(actor)


@contextlib.contextmanager
def ray_session(address: str | None = None, cpus_needed: float = 1.0, ray: ModuleType | None = None) -> Iterator[None]:
    """Ray connected (or started) for the ``with`` block; a Ray this block started is stopped after it.

    A command that runs several passes (``kcli filter``) holds one session around them, so a local Ray
    starts once per command, not once per pass. A Ray already initialised in this process is used as it
    is. Ray prints worker output and cluster messages ("(raylet) ...") to the driver's stdout at any
    moment; kcli's stdout carries results (``--json``), so inside the block they go to stderr.
    """
    ray = ray or import_ray()
    with contextlib.redirect_stdout(sys.stderr):
        started = _connect(ray, address, cpus_needed)
        try:
            yield
        finally:
            if started:
                ray.shutdown()


def _connect(ray: ModuleType, address: str | None, cpus_needed: float) -> bool:
    """Connect to (or start) Ray; True when this call started it and so must shut it down."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            # Sized so every actor fits, like local worker processes may outnumber the cores.
            cpus = max(os.cpu_count() or 1, math.ceil(cpus_needed))
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
    except ConnectionError as exc:
        raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
    return True


def _dispatch(ray: ModuleType, actors: list[Any], sources: Sequence[ShardSource]) -> Iterator[ShardResult]:
    """Hand each actor a shard once it is set up and again whenever it finishes one; yield results."""
    queue = deque(sources)
    starting = {actor.setup.remote(): actor for actor in actors}
    running: dict[Any, Any] = {}
    try:
        while running or (queue and starting):
            [ref], _ = ray.wait([*starting, *running], num_returns=1)
            if ref in starting:
                actor = starting.pop(ref)
                _get(ray, ref)
            else:
                actor = running.pop(ref)
                yield _get(ray, ref)
            if queue:
                running[actor.process.remote(queue.popleft())] = actor
    finally:
        # Calls still pending (an actor still loading its model when the last shard finished, or every call
        # after an error) are cancelled before their actors are killed: a call killed with its actor would be
        # retried, and Ray would print a warning for each.
        for ref in [*starting, *running]:
            ray.cancel(ref)


def _get(ray: ModuleType, ref: Any) -> Any:
    """The call's result; a user error raised inside an actor comes back as itself (one line in the CLI)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, KcliError):
            raise exc.cause from None
        raise
