"""Wall-clock time per named section of a training step (what ``bench/lora_step.py`` reports).

On a GPU, work is queued asynchronously, so each section boundary synchronises the device; on CPU the
timer costs nothing but two clock reads. A run without a timer uses :data:`NO_TIMER`, which does nothing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StepTimer:
    def __init__(self, synchronize: Callable[[], None] | None = None) -> None:
        self.synchronize = synchronize
        self.totals: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        if self.synchronize:
            self.synchronize()
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.synchronize:
                self.synchronize()
            self.totals[name] += time.perf_counter() - started
            self.counts[name] += 1

    def reset(self) -> None:
        self.totals.clear()
        self.counts.clear()


class _NoTimer(StepTimer):
    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        yield


NO_TIMER = _NoTimer()
