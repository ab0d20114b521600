"""The crawl's settings: one dataclass, filled defaults < a TOML file (``--config``) < named options < ``--set``.

Politeness is on by default (robots.txt, ``noai``/``noimageai`` opt-outs, a delay per domain with
AutoThrottle, an honest User-Agent, bounded retries); turning any of it off takes an explicit setting.
The ``image`` section holds the ingest downloader's image options: crawled image bytes go through the same
downloader as ``kcli ingest urls``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from kdata import __version__
from kdata.config import AtLeastOne, NonNegativeFloat, NonNegativeInt, PositiveFloat, layered_config
from kdata.download import STORES, ImageOptions
from kdata.errors import ConfigError

# Where site owners learn what the crawler is and how to reach whoever runs it. Operators crawling the
# open web should point ``contact_url`` at their own page or a mailto: address.
DEFAULT_CONTACT_URL = "https://github.com/kcli/kcli#crawl"


@dataclass
class CrawlConfig:
    seeds: list[str] = field(default_factory=list)  # page URLs, or sitemaps (``.xml``, ``.xml.gz``)
    allowed_domains: list[str] = field(default_factory=list)  # empty: the seeds' hosts
    max_depth: NonNegativeInt = 3  # links followed from a seed (a seed is depth 0)
    max_pages: NonNegativeInt = 1000  # page requests in all, across resumes (0: no limit)
    max_images: NonNegativeInt = 0  # distinct image URLs collected (0: no limit)
    include: list[str] = field(default_factory=list)  # regexes: when given, a page URL must match one
    exclude: list[str] = field(default_factory=list)  # regexes: a page URL matching one is not fetched
    js: list[str] = field(default_factory=list)  # regexes: pages rendered in Chromium, scrolled to the end
    js_auto: bool = True  # render a page whose static HTML has scripts but no images
    scroll_rounds: NonNegativeInt = 20  # infinite scroll: at most this many scrolls to the bottom
    scroll_wait_ms: NonNegativeInt = 1000  # after each scroll, wait up to this long for the page to grow
    render_timeout: PositiveFloat = 30.0
    chromium: str = "/usr/bin/chromium"  # Debian's chromium (playwright cannot download its own offline)
    obey_robots: bool = True
    user_agent_token: str = "kcli"  # the robots.txt / X-Robots-Tag / <meta name=...> token kcli answers to
    contact_url: str = DEFAULT_CONTACT_URL
    user_agent: str = ""  # empty: built from the token, version and contact URL
    download_delay: NonNegativeFloat = 1.0  # seconds between requests to one domain (AutoThrottle adapts above it)
    autothrottle: bool = True
    autothrottle_max_delay: NonNegativeFloat = 30.0
    concurrency_per_domain: AtLeastOne = 2
    retries: NonNegativeInt = 2  # extra attempts on 5xx/429/network errors, pages and images alike
    timeout: PositiveFloat = 30.0
    allow_private: bool = False  # fetch loopback/private addresses (tests, local mirrors)
    context_chars: NonNegativeInt = 200  # characters of page text kept on each side of an image
    source: str = "crawl"  # the manifest's ``source`` column
    # image bytes inline in the shards, or in the content-addressed blob store
    store: Literal[STORES] = "inline"  # type: ignore[valid-type]
    threads: AtLeastOne = 8  # concurrent image downloads
    image: ImageOptions = field(default_factory=ImageOptions)

    def __post_init__(self) -> None:
        # Ranges and choices are in the field types (kdata.config checks them); a regex needs compiling.
        for name in ("include", "exclude", "js"):
            for pattern in getattr(self, name):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{name} pattern {pattern!r} is not a valid regex: {exc}") from None

    @property
    def resolved_user_agent(self) -> str:
        """An honest User-Agent: who is crawling, why, what it honours, and where to complain."""
        if self.user_agent:
            return self.user_agent
        return (f"{self.user_agent_token}/{__version__} (+{self.contact_url}; image dataset crawler; "
                "honours robots.txt, noai and noimageai)")

    @property
    def domains(self) -> list[str]:
        return self.allowed_domains or sorted({urlsplit(s).hostname or "" for s in self.seeds} - {""})


def crawl_config(seeds: list[str], options: dict[str, Any], file: Path | None = None,
                 sets: list[str] | None = None) -> CrawlConfig:
    """Layer defaults < ``file`` < ``options`` (``None`` and empty lists are unset) and ``seeds`` < ``sets``."""
    named: dict[str, Any] = {}
    for name, value in options.items():
        if value is None or value == [] or value == ():
            continue
        named[name] = list(value) if isinstance(value, tuple) else value
    if seeds:
        named["seeds"] = list(seeds)
    config = layered_config(CrawlConfig, file, named, sets, where="crawl")
    check_seeds(config.seeds)
    return config


def check_seeds(seeds: list[str]) -> None:
    if not seeds:
        raise ConfigError("no seed URLs: pass at least one URL (or set seeds in the --config file)")
    for seed in seeds:
        parts = urlsplit(seed)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"seed {seed!r} is not an http(s) URL")
