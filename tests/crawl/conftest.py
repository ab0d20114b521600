"""Fixtures for crawl tests: the fixture site served on 127.0.0.1, and the CLI run in a subprocess (scrapy's
reactor cannot restart inside one process, so every crawl runs in its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kdata.crawl.localsite import SiteServer, serve_site
from tests.crawl.sitegen import build_site, write_sitemap

REPO = Path(__file__).resolve().parents[2]
FAST = """download_delay = 0
autothrottle = false
retries = 0
concurrency_per_domain = 4
scroll_wait_ms = 1000
"""


def kcli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "kcli", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def crawl_json(*args: str) -> dict:
    done = kcli("crawl", *args, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteServer]:
    root = build_site(tmp_path_factory.mktemp("site") / "site")
    with serve_site(root) as server:
        write_sitemap(root, server.base_url)
        yield server


@pytest.fixture(scope="module")
def fast_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "crawl.toml"
    path.write_text(FAST, encoding="utf-8")
    return path
