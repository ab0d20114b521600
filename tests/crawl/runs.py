"""The crawl command run as a user runs it, each in its own subprocess (scrapy's reactor cannot restart inside
one process), and crawl settings fast enough for the fixture site on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess

from tests.helpers.cli import kcli

FAST = """download_delay = 0
autothrottle = false
retries = 0
concurrency_per_domain = 4
scroll_wait_ms = 1000
"""
TIMEOUT = 240  # seconds; a crawl of the fixture site takes a few


def crawl(*args: str) -> subprocess.CompletedProcess[str]:
    """``kcli crawl ARGS`` to the end, its output captured."""
    return kcli("crawl", *args, timeout=TIMEOUT)


def crawl_json(*args: str) -> dict:
    """The JSON result of ``kcli crawl ARGS --json``, which must succeed."""
    done = crawl(*args, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)
