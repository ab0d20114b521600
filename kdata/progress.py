"""The one progress event of kcli: data stages, the crawl, trainers, generation and the demo all report through it.

Library code never draws anything; it calls a ``ProgressCallback`` with :class:`ProgressEvent` values and
the command line turns them into bars (one bar per ``phase``). Keeping a single shape means a new stage
or trainer needs no adapter in the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` units of ``phase`` are finished (``total`` is None while unknown).

    ``phase`` names what advances (a stage such as ``verify``, ``crawl``, ``cache latents``, ``train``,
    ``generate``, ``demo``); ``unit`` says what is counted (shards, pages, steps, images). The optional
    fields carry what a person wants beside the bar: rows written so far, the latest loss, a short detail
    (the shard just finished, the demo step running). ``skipped`` marks work found already done (resume).
    """

    phase: str
    done: int
    total: int | None
    unit: str = ""
    rows: int | None = None
    loss: float | None = None
    detail: str = ""
    skipped: bool = False


ProgressCallback = Callable[[ProgressEvent], None]


def notify(callback: ProgressCallback | None, event: ProgressEvent) -> None:
    """Send ``event`` when someone listens (every reporter goes through here, so None is always allowed)."""
    if callback is not None:
        callback(event)
