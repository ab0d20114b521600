"""The crawl's image stage: the ingest URL downloader, plus robots.txt for the image URLs themselves.

Every distinct image URL the crawl found becomes one input row (with its page context columns) for the
same downloader ``kcli ingest urls`` uses (:class:`kdata.ingest.urls.UrlIngestStage`: network guard,
``X-Robots-Tag`` opt-outs, bounded retries, magic-byte sniffing, safe decoding, optional resize), staged and
sharded the same way, so the image manifest has ingest's contract and resumes the same way.

One addition: an image URL that the image host's robots.txt disallows for kcli is not fetched; its row
is ``rejected`` with reason ``robots_txt``. robots.txt is fetched once per host (per worker) with the same
downloader; per RFC 9309 section 2.3.1, a robots.txt that does not exist (4xx) allows everything, and one
that cannot be reached (5xx, network errors) disallows everything.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
from protego import Protego

from kdata.crawl.config import CrawlConfig
from kdata.download import (
    FetchConfig,
    Fetcher,
    UrlIngestConfig,
    UrlIngestStage,
    input_fingerprint,
    plan_sources,
    stage_input,
)
from kdata.manifest import Manifest
from kdata.runner import RunOptions, RunResult, run_stage
from kdata.schema import Status


@dataclass
class CrawlImagesConfig(UrlIngestConfig):
    obey_robots: bool = True


class RobotsRules:
    """robots.txt per host, fetched on first use and cached; safe to share between threads."""

    def __init__(self, fetcher: Fetcher, token: str) -> None:
        self.fetcher = fetcher
        self.token = token
        self._parsers: dict[str, Protego | bool] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:  # one fetch per host, even when many threads ask at once
            if origin not in self._parsers:
                self._parsers[origin] = self._load(origin)
        rules = self._parsers[origin]
        return rules if isinstance(rules, bool) else rules.can_fetch(url, self.token)

    def _load(self, origin: str) -> Protego | bool:
        fetched = self.fetcher.fetch(f"{origin}/robots.txt")
        if fetched.reason is None:
            return Protego.parse((fetched.data or b"").decode("utf-8", errors="replace"))
        status = fetched.http_status or 0
        return 400 <= status < 500  # unavailable: allow all; unreachable (5xx, network): disallow all


class CrawlImageStage(UrlIngestStage):
    name = "crawl-images"

    def setup(self) -> None:
        super().setup()
        config: CrawlImagesConfig = self.config
        self.robots = RobotsRules(self.fetcher, config.fetch.user_agent_token) if config.obey_robots else None

    def ingest_one(self, url: str | None) -> dict[str, Any]:
        if url and self.robots is not None and not self.robots.allowed(url):
            return {"status": Status.REJECTED, "reason": "robots_txt"}
        return super().ingest_one(url)


def images_config(config: CrawlConfig, candidates: Path) -> CrawlImagesConfig:
    fetch = FetchConfig(user_agent=config.resolved_user_agent, user_agent_token=config.user_agent_token,
                        retries=config.retries, read_timeout=config.timeout, body_timeout=max(config.timeout, 30.0),
                        allow_private=config.allow_private, per_host=config.concurrency_per_domain)
    return CrawlImagesConfig(input=str(candidates), input_format="parquet", source=config.source,
                             threads=config.threads, store=config.store, image=config.image, fetch=fetch,
                             obey_robots=config.obey_robots)


def ingest_images(
    config: CrawlImagesConfig,
    out: Path,
    parent: Manifest,
    options: RunOptions = RunOptions(),
) -> RunResult:
    """Download the candidates at ``config.input`` into the image manifest ``out``; resumable."""
    path = Path(config.input)
    fingerprint = input_fingerprint(path)

    def tables():  # noqa: ANN202 - an iterator of Arrow tables
        yield from (pa.Table.from_batches([b]) for b in pq.ParquetFile(path).iter_batches())

    def planner(root: Path) -> list:
        parts = stage_input(root, tables, config.shard_size, fingerprint)
        return plan_sources(root, parts, config.retry_failed)

    return run_stage(CrawlImageStage, config, planner, out, parent=parent, options=options)
