"""What JavaScript rendering costs a crawl: the same gallery pages fetched as static HTML and rendered in
Chromium, side by side, plus the page-context extraction rate.

Run: ``.venv/bin/python bench/crawl_render_cost.py [--pages 24] [--images 12]``.

Generates two sites of ``--pages`` gallery pages with ``--images`` images each (one with the ``<img>`` tags
in the HTML, one that builds the same tags in a script), serves both on 127.0.0.1, and crawls each with
``kcli crawl`` settings for a local site (no delay, AutoThrottle off, 2 concurrent requests). Only the
page phase is timed (worker start to the last page logged, which includes scrapy's and, for the rendered
site, Chromium's start-up); the images are not downloaded. Prints pages/s for each and the ratio: the
reason kcli renders only the pages that need it (``--js`` patterns, or static HTML with scripts and no
images). Then times ``page_info`` + ``page_images`` (lxml parse included) on one gallery page in-process.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import lxml.html

from kdata.atomic import write_json_atomic
from kdata.crawl.config import CrawlConfig
from kdata.crawl.extract import page_images, page_info
from kdata.crawl.localsite import serve_site
from kdata.crawl.pagelog import CONFIG, PAGE_LOG, read_records
from kdata.crawl.process import run_worker
from kdata.runner import resolved_config

FIGURE = ('<figure><img src="img/{page}-{i}.jpg" alt="갤러리 {page}의 그림 {i}">'
          "<figcaption>그림 {i} 설명</figcaption></figure>")


def make_site(root: Path, pages: int, images: int, scripted: bool) -> None:
    root.mkdir(parents=True)
    for page in range(pages):
        figures = "".join(FIGURE.format(page=page, i=i) for i in range(images))
        links = "".join(f'<a href="p{j}.html">{j}</a> ' for j in range(pages))
        body = (f"<div id=g></div><script>document.getElementById('g').innerHTML = {json.dumps(figures)};</script>"
                if scripted else figures)
        (root / f"p{page}.html").write_text(f'<html lang="ko"><head><meta charset="utf-8"><title>갤러리 {page}</title>'
                                            f"</head><body><h1>갤러리 {page}</h1>{body}<p>{links}</p></body></html>",
                                            encoding="utf-8")


def crawl_pages(site: Path, work: Path) -> tuple[int, float, float, int]:
    """Crawl ``site`` with the worker only: (pages, seconds in all, seconds from first to last page, images)."""
    logged: list[float] = []
    with serve_site(site) as server:
        config = CrawlConfig(seeds=[f"{server.base_url}/p0.html"], download_delay=0.0, autothrottle=False,
                             allow_private=True, concurrency_per_domain=2, scroll_rounds=0)
        write_json_atomic(work / CONFIG, resolved_config(config))
        started = time.perf_counter()
        run_worker(work, lambda event: logged.append(time.perf_counter()))
        seconds = time.perf_counter() - started
    records = read_records(work / PAGE_LOG)
    return len(records), seconds, logged[-1] - logged[0], len({i["url"] for r in records for i in r["images"]})


def extraction_rate(html: str, seconds: float = 2.0) -> tuple[float, int]:
    done, images = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        root = lxml.html.document_fromstring(html)
        images = len(page_images(root, page_info(root, "http://site.test/p0.html", "kcli")))
        done += 1
    return done / (time.perf_counter() - started), images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--images", type=int, default=12)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kcli-crawl-bench-"))
    try:
        results = {}
        for name, scripted in (("static", False), ("rendered", True)):
            make_site(tmp / name, args.pages, args.images, scripted)
            results[name] = crawl_pages(tmp / name, tmp / f"{name}-work")
            pages, seconds, steady, images = results[name]
            print(f"{name:>8}: {pages} pages, {images} images found, {seconds:.1f} s in all "
                  f"({pages / seconds:.2f} pages/s); after the first page {(pages - 1) / steady:.2f} pages/s")
        static, rendered = ((results[k][0] - 1) / results[k][2] for k in ("static", "rendered"))
        whole = (results["rendered"][1] / results["rendered"][0]) / (results["static"][1] / results["static"][0])
        print(f"rendering in Chromium: {static / rendered:.1f}x slower per page after start-up, "
              f"{whole:.1f}x counting start-up")
        rate, found = extraction_rate((tmp / "static" / "p0.html").read_text(encoding="utf-8"))
        print(f"extraction: {rate:.0f} pages/s ({found} images each; lxml parse + context columns, one core)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
