"""The demo's crawl step: ``kcli crawl`` over the bundled sample site (``kdata/bundled/samples/site/``, Korean
pages showing the sample images under ``/images/``) served on 127.0.0.1 for the length of the step.

The site has a static gallery, lazy-loaded and srcset images, an EUC-KR page, a page built by JavaScript
(rendered in Chromium), duplicates across pages and a section robots.txt disallows. Crawling is a source
stage beside ingest: its image manifest is kept under ``01-crawl/images`` and the demo's main line stays
on the ingest output.
"""

from __future__ import annotations

from kdata.bundled import bundled_path
from kdata.demo_context import DemoContext, StepResult
from kdata.manifest import DESCRIPTOR, open_manifest
from kdata.runner import RunOptions
from kdata.samples import SAMPLE_IMAGES

SAMPLE_SITE = bundled_path("samples/site")


def step_crawl(ctx: DemoContext) -> StepResult:
    from kdata.crawl.config import CrawlConfig
    from kdata.crawl.localsite import serve_site
    from kdata.crawl.run import crawl

    out = ctx.path("01-crawl")
    if (out / "images" / DESCRIPTOR).exists():  # done before; the server's port differs each time
        pages, images = open_manifest(out / "pages"), open_manifest(out / "images")
        summary = {"pages": pages.num_rows, "rows": images.num_rows, "stats": images.descriptor.get("stats", {})}
    else:
        with serve_site(SAMPLE_SITE, mounts={"/images/": SAMPLE_IMAGES}) as site:
            # A local site: no delay needed, and loopback must be allowed past the network guard.
            config = CrawlConfig(seeds=[f"{site.base_url}/"], download_delay=0.0, autothrottle=False,
                                 allow_private=True, concurrency_per_domain=4, scroll_wait_ms=500,
                                 source="kcli-sample-site")
            # An interrupted earlier try is started again.
            result = crawl(config, out, options=RunOptions(overwrite=True))
        summary = {"pages": result.pages.num_rows, "rows": result.images.manifest.num_rows,
                   "stats": result.images.stats, "page_stats": result.page_stats}
    note = f"{summary['rows']} images with page context from {summary['pages']} pages of the sample site"
    return StepResult("crawl", out, {**summary, "note": note})
