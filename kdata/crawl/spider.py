"""The crawl spider: site structure only. It follows links, decides which pages are rendered in the
browser, extracts each page's images with their context, and yields one record per page. Writing the
records is the item pipeline's job (:mod:`kdata.crawl.pipeline`); network policy is the middlewares'.

Pages are visited breadth-first (priority ``-depth``, FIFO within a depth), so ``max_depth`` and
``max_pages`` cut the crawl at the shallowest pages, the ones closest to the seeds.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure

from kdata.crawl.browser import render_meta
from kdata.crawl.config import CrawlConfig
from kdata.crawl.encoding import page_encoding
from kdata.crawl.extract import page_images, page_info
from kdata.crawl.failures import failure_reason
from kdata.crawl.links import LinkPolicy, canonical, on_domains
from kdata.crawl.pagelog import Frontier
from kdata.crawl.politeness import header_values, page_nofollow, page_optout
from kdata.schema import Status

SITEMAP = re.compile(r"(sitemap[^/]*\.xml|\.xml)(\.gz)?$", re.IGNORECASE)
OPTOUT_DIRECTIVES = ("noai", "noimageai")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ImageCrawlSpider(scrapy.Spider):
    name = "kcli"

    def __init__(self, config: CrawlConfig, state: Frontier, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config
        self.allowed_domains = config.domains  # scrapy's offsite middleware applies it to redirects
        self.policy = LinkPolicy(config)
        self.js_patterns = [re.compile(p) for p in config.js]
        self.links = LinkExtractor(deny_extensions=(), canonicalize=False, unique=True)
        self.pending = state.pending
        self.seen = state.seen
        self.images = set(state.image_urls)
        self.requested = state.requested

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url, depth, referer in self.pending:
            request = self.request(url, depth, referer)
            if request is not None:
                yield request

    def request(self, url: str, depth: int, referer: str | None, render: bool = False) -> scrapy.Request | None:
        """A page (or sitemap) request, unless ``max_pages`` requests were made already."""
        if self.config.max_pages and self.requested >= self.config.max_pages:
            self.crawler.stats.inc_value("kcli/skipped/max_pages")
            return None
        self.requested += 1
        sitemap = bool(SITEMAP.search(url.split("?", 1)[0]))
        meta: dict[str, Any] = {"kcli_depth": depth, "kcli_referer": referer, "kcli_rendered": False}
        if not sitemap and (render or any(p.search(url) for p in self.js_patterns)):
            meta.update(render_meta(self.config), kcli_rendered=True)
        callback = self.parse_sitemap if sitemap else self.parse_page
        return scrapy.Request(url, callback=callback, errback=self.failed, meta=meta, priority=-depth,
                              dont_filter=render)

    def follow(self, urls: list[str], depth: int, referer: str, skipped: Counter[str]
               ) -> tuple[list[scrapy.Request], list[str]]:
        """Requests for the new links the policy accepts, and every accepted link (the page log's
        ``links``, from which a resumed crawl rebuilds its frontier)."""
        requests, accepted = [], []
        for url in dict.fromkeys(urls):
            if url in self.seen:
                accepted.append(url)
                continue
            reason = self.policy.skip_reason(url, depth)
            if reason is not None:
                skipped[reason] += 1
                continue
            self.seen.add(url)
            accepted.append(url)
            request = self.request(url, depth, referer)
            if request is None:
                skipped["max_pages"] += 1
            else:
                requests.append(request)
        return requests, sorted(accepted)

    def parse_page(self, response: Response) -> Iterator[Any]:
        record = self.base_record(response)
        if not isinstance(response, TextResponse):
            yield {**record, "status": Status.FAILED, "reason": "not_html"}
            return
        response, record["encoding"] = self.decoded(response)
        root = response.selector.root
        header = header_values(response.headers)
        language = header_values(response.headers, b"Content-Language")
        info = page_info(root, response.url, self.config.user_agent_token, language[0] if language else None)
        record.update(title=info.title, lang=info.lang, license=info.license)
        optout = page_optout(header, info.robots, self.config.user_agent_token, OPTOUT_DIRECTIVES)
        images = [] if optout else page_images(root, info, self.config.context_chars)
        if not images and not optout and self.should_render(response, root):
            self.requested -= 1  # the rendered request replaces this one
            yield self.request(record["url"], record["depth"], record["referer"], render=True)
            return
        skipped: Counter[str] = Counter()
        links: list[str] = []
        if not page_nofollow(header, info.robots, self.config.user_agent_token):
            links = [canonical(link.url) for link in self.links.extract_links(response) if not link.nofollow]
        requests, followed = self.follow(links, record["depth"] + 1, record["url"], skipped)
        record.update(links=followed, images=self.within_budget(images, skipped), skipped=dict(skipped))
        if optout:
            record.update(status=Status.REJECTED, reason=f"opt_out:{optout}")
        yield record
        yield from requests
        if self.config.max_images and len(self.images) >= self.config.max_images:
            raise CloseSpider("max_images")

    def should_render(self, response: Response, root: Any) -> bool:
        """Render a page whose static HTML has scripts but no images (a gallery built by JavaScript)."""
        return (self.config.js_auto and not response.meta.get("kcli_rendered")
                and root.find(".//script") is not None)

    def within_budget(self, images: list[Any], skipped: Counter[str]) -> list[dict[str, Any]]:
        kept = []
        for image in images:
            if image.url not in self.images:
                if self.config.max_images and len(self.images) >= self.config.max_images:
                    skipped["max_images"] += 1
                    continue
                self.images.add(image.url)
            kept.append(image.to_dict())
        return kept

    def decoded(self, response: TextResponse) -> tuple[TextResponse, str]:
        """The response with its encoding decided (see :mod:`kdata.crawl.encoding`)."""
        if response.meta.get("kcli_rendered"):
            return response, "browser"  # the browser decoded it; scrapy-playwright re-encoded the DOM
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
        encoding, _ = page_encoding(content_type, response.body, response.encoding)
        return response.replace(encoding=encoding), encoding

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        """A sitemap (or sitemap index): its pages are crawled as seeds (depth 0)."""
        record = {**self.base_record(response), "kind": "sitemap", "child_depth": 0}
        body = gunzip(response.body) if response.url.endswith(".gz") else response.body
        sitemap = Sitemap(body)
        urls = [canonical(entry["loc"]) for entry in sitemap if entry.get("loc")]
        skipped: Counter[str] = Counter()
        if sitemap.type == "sitemapindex":  # child sitemaps: only the domain applies, not include/exclude
            followed = sorted({u for u in urls if on_domains(u, self.policy.domains)})
            children = [u for u in followed if u not in self.seen]
            self.seen.update(children)
            requests = [r for r in (self.request(u, 0, record["url"]) for u in children) if r is not None]
        else:
            requests, followed = self.follow(urls, 0, record["url"], skipped)
        yield {**record, "links": followed, "skipped": dict(skipped)}
        yield from requests

    def base_record(self, response: Response) -> dict[str, Any]:
        meta = response.meta
        return {
            "kind": "page", "url": canonical(response.request.url), "final_url": canonical(response.url),
            "depth": meta["kcli_depth"], "referer": meta.get("kcli_referer"), "status": Status.OK, "reason": None,
            "http_status": response.status, "rendered": bool(meta.get("kcli_rendered")),
            "content_type": response.headers.get(b"Content-Type", b"").decode("latin-1") or None,
            "crawled_at": now(), "links": [], "images": [],
        }

    def failed(self, failure: Failure) -> Iterator[dict[str, Any]]:
        """A page that could not be fetched is a row too: rejected (robots.txt, blocked) or failed."""
        request = failure.request  # type: ignore[attr-defined]
        status, reason = failure_reason(failure)
        response = failure.value.response if failure.check(HttpError) else None
        yield {
            "kind": "sitemap" if request.callback == self.parse_sitemap else "page",
            "url": canonical(request.url), "final_url": canonical(response.url) if response else None,
            "depth": request.meta["kcli_depth"], "referer": request.meta.get("kcli_referer"),
            "status": status, "reason": reason, "http_status": response.status if response else None,
            "rendered": bool(request.meta.get("kcli_rendered")), "crawled_at": now(), "links": [], "images": [],
        }

