"""Consent and network policy for crawled pages (robots.txt itself is scrapy's RobotsTxtMiddleware).

- ``noai`` / ``noimageai`` opt-outs, read from the ``X-Robots-Tag`` header (the same parser the ingest
  downloader uses for image responses) and from ``<meta name="robots">`` or ``<meta name="<token>">``
  (the user-agent-scoped form, like ``<meta name="googlebot">``). A page that opts out is recorded as
  rejected and none of its images is collected; ``nofollow`` (or ``none``) stops its links being followed.
- The ingest network guard, as a downloader middleware: a page link to a private or loopback address
  is refused like an image URL would be (server-side request forgery), unless ``allow_private``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

from kdata.ingest.guard import BlockedUrl, check_url
from kdata.ingest.robots import optout_directive

NOFOLLOW = ("nofollow", "none")


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
    """Refuse requests to non-public addresses (``IgnoreRequest("blocked:<why>")``) unless allowed."""

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
