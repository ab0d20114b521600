"""JavaScript pages through scrapy-playwright, driving the system's Chromium.

Playwright's own browser download cannot run offline, so Debian's ``chromium`` is launched by path. Inside
the browser, image, media and font requests are aborted: the crawl only needs the DOM (the image URLs and
their context), and image bytes go through the ingest downloader with its checks (network guard,
``noai`` headers, safe decoding). A page's scripts may also request anything they like, so the network
guard applies to the browser's own requests too. Infinite-scroll galleries are scrolled to the bottom
until the page stops growing, a bounded number of times. The browser sends kcli's User-Agent
(scrapy-playwright's default header processing).
"""

from __future__ import annotations

import asyncio
from typing import Any

from kdata.crawl.config import CrawlConfig
from kdata.download import BlockedUrl, HostNotFound, check_url

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
BLOCKED_RESOURCES = frozenset({"image", "media", "font"})
HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"

# Scroll to the bottom and wait up to ``waitMs`` for the page to grow; when it does not, nudge once (some
# loaders only react to a fresh scroll event near the bottom) and stop if it still does not grow.
SCROLL_TO_END = """
async ([rounds, waitMs]) => {
  const height = () => document.documentElement.scrollHeight;
  const grew = async (before) => {
    for (let waited = 0; waited < waitMs; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (height() > before) return true;
    }
    return false;
  };
  for (let i = 0; i < rounds; i++) {
    const before = height();
    window.scrollTo(0, before);
    if (await grew(before)) continue;
    window.scrollBy(0, -200);
    window.scrollTo(0, height());
    if (!(await grew(before))) return i;
  }
  return rounds;
}
"""


class BrowserRequestFilter:
    """``PLAYWRIGHT_ABORT_REQUEST``: abort images, media and fonts, and requests the network guard refuses."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def __call__(self, request: Any) -> bool:
        if request.resource_type in BLOCKED_RESOURCES:
            return True
        if self.allow_private or request.url.startswith(("data:", "blob:", "about:")):
            return False
        try:  # resolving the host blocks: off the event loop
            await asyncio.to_thread(check_url, request.url, False)
        except (BlockedUrl, HostNotFound, ValueError):  # refused, unresolvable or malformed: not requested
            return True
        return False


def browser_settings(config: CrawlConfig) -> dict[str, Any]:
    return {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": config.chromium, "args": CHROMIUM_ARGS, "headless": True},
        "PLAYWRIGHT_ABORT_REQUEST": BrowserRequestFilter(config.allow_private),
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": config.render_timeout * 1000,
        "PLAYWRIGHT_MAX_CONTEXTS": 1,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": config.concurrency_per_domain,
    }


def render_meta(config: CrawlConfig) -> dict[str, Any]:
    """Request meta that renders a page: wait for the network to settle, then scroll to the end."""
    from scrapy_playwright.page import PageMethod

    return {
        "playwright": True,
        "playwright_page_methods": [
            PageMethod("wait_for_load_state", "networkidle"),
            PageMethod("evaluate", SCROLL_TO_END, [config.scroll_rounds, config.scroll_wait_ms]),
        ],
    }
