"""Consent and network policy for crawled pages (robots.txt allow/disallow is scrapy's RobotsTxtMiddleware).

- robots.txt ``Crawl-delay`` for kcli's token: scrapy parses it but does not apply it; kcli makes it the
  host's download delay (the larger of it and ``download_delay``, capped at ``MAX_CRAWL_DELAY``), and
  AutoThrottle never lowers it below that.

- ``noai`` / ``noimageai`` opt-outs, read from the ``X-Robots-Tag`` header (the same parser the ingest
  downloader uses for image responses) and from ``<meta name="robots">`` or ``<meta name="<token>">``
  (the user-agent-scoped form, like ``<meta name="googlebot">``). A page that opts out is recorded as
  rejected and none of its images is collected; ``nofollow`` (or ``none``) stops its links being followed.
- The ingest network guard, as a downloader middleware: a page link to a private or loopback address,
  or an ambiguous URL, is refused like an image URL would be (server-side request forgery), unless
  ``allow_private``; a host that does not resolve fails as ``dns_error`` (and is retried), as in ingest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.robotstxt import RobotParser
from twisted.internet.error import DNSLookupError

from kdata.download import BlockedUrl, HostNotFound, check_url, optout_directive

NOFOLLOW = ("nofollow", "none")
# A Crawl-delay above this is read as a mistake (some sites write 3600): a crawl of that host would stall.
MAX_CRAWL_DELAY = 60.0


def header_values(headers: object, name: bytes = b"X-Robots-Tag") -> list[str]:
    """All values of a (repeatable) response header, as text."""
    values = headers.getlist(name) if hasattr(headers, "getlist") else []  # type: ignore[attr-defined]
    return [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in values]


def page_optout(header: Sequence[str], meta: Sequence[str], token: str, directives: Sequence[str]) -> str | None:
    """The opt-out directive that applies to this page (header first, then meta), or None."""
    found = optout_directive(header, token, directives)
    if found is not None:
        return found
    wanted = {d.lower() for d in directives}
    return next((d for d in meta if d in wanted), None)


def page_nofollow(header: Sequence[str], meta: Sequence[str], token: str) -> bool:
    return optout_directive(header, token, NOFOLLOW) is not None or any(d in NOFOLLOW for d in meta)


class NetworkGuardMiddleware:
    """Refuse requests to non-public addresses (``IgnoreRequest("blocked:<why>")``) unless allowed.

    A name that does not resolve raises twisted's ``DNSLookupError``, which the crawl records as a
    ``failed`` ``dns_error`` row and scrapy's retry middleware retries, as if scrapy had looked it up.
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetworkGuardMiddleware:
        return cls(crawler.settings.getbool("KCLI_ALLOW_PRIVATE"))

    async def process_request(self, request: Request) -> None:
        if self.allow_private:
            return
        try:  # the check resolves the host name: off the event loop, it blocks
            await asyncio.to_thread(check_url, request.url, False)
        except BlockedUrl as blocked:
            raise IgnoreRequest(str(blocked)) from None
        except HostNotFound as missing:
            raise DNSLookupError(str(missing)) from None


class RobotsCrawlDelayMiddleware(RobotsTxtMiddleware):
    """scrapy's robots.txt middleware, plus the host's ``Crawl-delay`` as that host's download delay."""

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        super().process_request_2(rp, request)  # raises IgnoreRequest for a disallowed URL
        if rp is None:
            return
        delay = rp.crawl_delay(self._robotstxt_useragent or self._default_useragent)
        if delay:
            apply_crawl_delay(self.crawler, request, min(float(delay), MAX_CRAWL_DELAY))


def apply_crawl_delay(crawler: Crawler, request: Request, delay: float) -> None:
    """Make ``delay`` the floor of the download delay of ``request``'s slot (its host), created or not yet."""
    downloader = crawler.engine.downloader  # type: ignore[union-attr]
    key = downloader.get_slot_key(request)
    slot = downloader.slots.get(key)
    # No random jitter on such a host: scrapy's default of +-50% would go below the floor the site asked for.
    if slot is not None:
        slot.delay, slot.jitter = max(slot.delay, delay), 0.0
    else:  # the downloader reads DOWNLOAD_SLOTS' settings when it creates the slot
        settings = downloader.per_slot_settings.setdefault(key, {})
        settings.update(delay=max(float(settings.get("delay", downloader._delay)), delay), jitter=0.0)
    # AutoThrottle may raise the delay for a slow server but would lower it towards the latency otherwise.
    request.meta["autothrottle_dont_adjust_delay"] = True
