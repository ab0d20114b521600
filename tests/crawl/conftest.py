"""Fixtures for crawl tests: the fixture site served on 127.0.0.1 and fast crawl settings for it (the crawl
command itself runs through tests/crawl/runs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kdata.crawl.localsite import SiteServer, serve_site
from tests.crawl.runs import FAST
from tests.crawl.sitegen import build_site, write_sitemap


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
