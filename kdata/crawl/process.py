"""Running the crawl worker (:mod:`kdata.crawl.worker`) as a child process and following its progress.

The child dies with its parent (:func:`kdata.lifetime.die_with_parent`): a ``kcli crawl`` killed with SIGKILL
must not leave an orphan crawler writing into the output. On Ctrl-C the whole foreground process group gets
SIGINT; the child then stops scrapy gracefully (in-flight pages finish and are logged) while the parent
waits for it, and the next run resumes from the page log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import kdata
from kdata.errors import KcliError
from kdata.lifetime import die_with_parent

INTERRUPTED = 3  # the worker's exit code when scrapy stopped before the crawl was complete
GRACE_SECONDS = 60


class CrawlWorkerError(KcliError):
    """The crawl process failed; the message points at its log."""


def run_worker(work: Path, on_event: Callable[[dict[str, Any]], None]) -> None:
    """Run one crawl worker over ``work`` to completion; raise when it fails or is interrupted."""
    repo = str(Path(kdata.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "kdata.crawl.worker", str(work)]
    with open(work / "worker.err", "ab") as errors:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env, text=True,
                                 preexec_fn=partial(die_with_parent, os.getpid())
                                 if sys.platform.startswith("linux") else None)
        (work / "worker.pid").write_text(str(child.pid), encoding="utf-8")
        try:
            _follow(child, on_event)
            code = child.wait()
        except KeyboardInterrupt:
            _stop(child)
            raise
    if code == INTERRUPTED:
        raise CrawlWorkerError("the crawl was interrupted; re-run the same command to resume where it stopped")
    if code != 0:
        raise CrawlWorkerError(f"the crawl process exited with code {code}; see {work / 'worker.err'} and "
                               f"{work / 'scrapy.log'}")


def _follow(child: subprocess.Popen[str], on_event: Callable[[dict[str, Any]], None]) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # something else printed to stdout; progress lines are JSON
        if isinstance(event, dict) and "pages" in event:
            on_event(event)


def _stop(child: subprocess.Popen[str]) -> None:
    """Let the child finish its in-flight pages (it got the same SIGINT, or gets it now), then end it."""
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
