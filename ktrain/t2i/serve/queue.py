"""Admission for the one worker that renders: a bounded number may wait, the next is told when to retry.

Everything here runs on the event loop's thread (enter before handing a job to the worker, leave after
its result is back), so a plain counter is enough. ``Retry-After`` (RFC 9110, section 10.2.3) is an
estimate of when a place frees: the mean of recent render times (one render leaves the queue then),
rounded up to whole seconds.
"""

from __future__ import annotations

import math
from collections import deque


class AdmissionQueue:
    def __init__(self, max_waiting: int, window: int = 20) -> None:
        self.max_waiting = max_waiting
        self.pending = 0  # rendering (at most one) plus waiting
        self.served = 0
        self.refused = 0
        self.peak = 0  # the most ever admitted at once: never above capacity
        self._recent: deque[float] = deque(maxlen=window)

    @property
    def capacity(self) -> int:
        return 1 + self.max_waiting

    def try_enter(self) -> bool:
        if self.pending >= self.capacity:
            self.refused += 1
            return False
        self.pending += 1
        self.peak = max(self.peak, self.pending)
        return True

    def leave(self, render_seconds: float | None) -> None:
        self.pending -= 1
        if render_seconds is not None:
            self.served += 1
            self._recent.append(render_seconds)

    def retry_after(self) -> int:
        """Whole seconds until a place is likely free (at least 1, at most 10 minutes)."""
        mean = sum(self._recent) / len(self._recent) if self._recent else 1.0
        return max(1, min(600, math.ceil(mean)))

    def stats(self) -> dict[str, int]:
        return {"pending": self.pending, "capacity": self.capacity, "peak": self.peak, "served": self.served,
                "refused": self.refused}
