"""Killing a run part way, for the resume tests: SIGKILL (no clean-up of any kind) once some work is done."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def done_shards(out: Path) -> int:
    return len(list((out / "_work").glob("*.done.json")))


def kill_when(process: subprocess.Popen, done: Callable[[], int], units: int, timeout: float = 90) -> int:
    """Wait until ``done()`` reaches ``units``, SIGKILL ``process``; ``done()`` once it is dead."""
    deadline = time.time() + timeout
    while done() < units:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, f"fewer than {units} units done after {timeout} s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return done()


def kill_after_done_shards(process: subprocess.Popen, out: Path, shards: int = 3, timeout: float = 90) -> int:
    """Wait until ``shards`` shards of the run writing ``out`` are done, SIGKILL it; the shards done by then."""
    return kill_when(process, lambda: done_shards(out), shards, timeout)
