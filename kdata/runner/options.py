"""``RunOptions``: how a data stage runs, as one object from the command line to the runner.

As datatrove builds its executor once and hands it the pipeline, a stage entry point never sees loose
flags: what it computes is its config, how it runs (where, how wide, in which batches, whether it may
delete an earlier output, who hears about progress) is this.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdata.errors import ConfigError
from kdata.progress import ProgressCallback


@dataclass(frozen=True)
class RunOptions:
    """``workers`` processes (or Ray actors with ``executor="ray"`` on the cluster at ``ray_address``),
    ``batch_size`` rows per batch handed to the stage, ``overwrite`` (the only destructive mode), and the
    ``progress`` callback."""

    workers: int = 1
    executor: str = "local"
    ray_address: str | None = None
    batch_size: int = 256
    overwrite: bool = False
    progress: ProgressCallback | None = None

    def __post_init__(self) -> None:
        if self.workers < 1 or self.batch_size < 1:
            raise ConfigError(f"workers and batch_size must be >= 1, got {self.workers} and {self.batch_size}")
