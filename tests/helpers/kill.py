"""Killing a run part way, for the resume tests: SIGKILL (no clean-up of any kind) once some shards are done."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path


def done_shards(out: Path) -> int:
    return len(list((out / "_work").glob("*.done.json")))


def kill_after_done_shards(process: subprocess.Popen, out: Path, shards: int = 3, timeout: float = 90) -> int:
    """Wait until ``shards`` shards of the run writing ``out`` are done, SIGKILL it; the shards done by then."""
    deadline = time.time() + timeout
    while done_shards(out) < shards:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, f"fewer than {shards} shards done after {timeout} s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return done_shards(out)
