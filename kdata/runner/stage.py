"""The stage interface: *what* a step decides, apart from *how* it is run (see :mod:`kdata.runner.run`).

A stage is a class built from its config in each worker. ``setup`` loads what is expensive (a model)
once per worker; ``process`` maps one batch of ``ok`` rows to the same rows with columns added and
``status``/``reason`` set. Rows that arrive rejected or failed never reach ``process``: the runner
carries them through untouched, so a stage cannot lose them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from kdata.blobs import BlobDir
from kdata.schema import IMAGE, ManifestKind


@dataclass
class StageContext:
    """What a stage may need to know about where it runs."""

    output_dir: Path
    # Where input rows' image_path blobs live: readable folders and refused ones (kdata.blobs.RefusedBlobDir),
    # as the input Manifest classified them. Pass them to kdata.blobs.read_image_bytes as they are.
    blob_dirs: list[BlobDir] = field(default_factory=list)
    worker_index: int = 0


@dataclass
class BatchResult:
    """A processed batch plus counters the stage wants in ``stats.json`` beyond status counts."""

    table: pa.Table
    counters: Counter[str] = field(default_factory=Counter)


class Stage(ABC):
    """Base class for a manifest-to-manifest step."""

    name: ClassVar[str]
    kind: ClassVar[ManifestKind] = IMAGE
    # A stage that runs a model on a GPU when one exists says so; the Ray executor then gives each of its
    # actors a GPU (where the cluster has one), unless the stage's config sets ``device = "cpu"``.
    uses_gpu: ClassVar[bool] = False
    # A stage whose module imports no torch (nor anything else that starts threads at import) may have its
    # local worker processes forked from the parent instead of spawned: a fork inherits the parent's imported
    # modules, where a spawned worker imports them again (about a second of CPU for pyarrow, pandas, numpy and
    # Pillow). See kdata.runner.executors for when a fork is used even so.
    fork_safe: ClassVar[bool] = False

    @classmethod
    def wants_gpu(cls, config: Any) -> bool:
        """Whether each worker of this stage should hold a GPU: it says it uses one and its config does not pin
        it to the CPU, or its config names a CUDA device. Stages whose device setting lives deeper override."""
        device = str(getattr(config, "device", "") or "").lower()
        return device.startswith("cuda") or (cls.uses_gpu and device != "cpu")

    def __init__(self, config: Any, context: StageContext) -> None:
        self.config = config
        self.context = context

    def setup(self) -> None:  # noqa: B027 - an optional override point
        """Load models and other expensive state; called once per worker before any batch."""

    @abstractmethod
    def process(self, batch: pa.Table) -> pa.Table | BatchResult:
        """Return the batch's rows with this stage's columns added and status/reason decided."""


class ShardSource(Protocol):
    """Where a shard's input rows come from (a manifest shard, a slice of a URL list, ...)."""

    name: str

    def read(self, batch_size: int) -> Iterator[pa.Table]: ...


@dataclass(frozen=True)
class ManifestShardSource:
    """One shard of an input manifest, read in record batches."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def read(self, batch_size: int) -> Iterator[pa.Table]:
        from kdata.manifest import iter_shard_batches

        for batch in iter_shard_batches(self.path, batch_size=batch_size):
            yield pa.Table.from_batches([batch])
