"""URLs the crawl follows: canonical forms, and the policy that decides which links are fetched."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from scrapy.linkextractors import IGNORED_EXTENSIONS
from w3lib.url import canonicalize_url, safe_url_string

from kdata.crawl.config import CrawlConfig

_IGNORED = tuple(f".{ext}" for ext in IGNORED_EXTENSIONS)  # images, media, archives, office files


def absolute(base: str, href: str) -> str | None:
    """``href`` resolved against ``base`` and made canonical, or None when it is not an http(s) URL."""
    href = (href or "").strip()
    if not href:
        return None
    try:
        url = canonical(urljoin(base, href))
    except ValueError:  # a malformed URL (bad port, bad IPv6 literal) on someone's page
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def canonical(url: str) -> str:
    """One spelling per URL (fragment dropped, query sorted, percent-encoding normalised): the dedup key."""
    return canonicalize_url(safe_url_string(url), keep_fragments=False)


def on_domains(url: str, domains: list[str]) -> bool:
    """Whether the URL's host is one of ``domains`` or a subdomain of one (ports do not matter)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == d or host.endswith(f".{d}") for d in (d.lower().strip(".") for d in domains))


class LinkPolicy:
    """Which page links are followed; ``skip_reason`` names why one is not (a stats counter)."""

    def __init__(self, config: CrawlConfig) -> None:
        self.domains = config.domains
        self.include = [re.compile(p) for p in config.include]
        self.exclude = [re.compile(p) for p in config.exclude]
        self.max_depth = config.max_depth

    def skip_reason(self, url: str, depth: int) -> str | None:
        if not on_domains(url, self.domains):
            return "offsite"
        if urlsplit(url).path.lower().endswith(_IGNORED):
            return "not_a_page"
        if self.exclude and any(p.search(url) for p in self.exclude):
            return "excluded"
        if self.include and not any(p.search(url) for p in self.include):
            return "not_included"
        if depth > self.max_depth:
            return "max_depth"
        return None
