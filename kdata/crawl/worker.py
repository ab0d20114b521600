"""The crawl's child process: ``python -m kdata.crawl.worker WORK_DIR``.

Scrapy runs on a Twisted reactor, which cannot be restarted inside one process; running each crawl in
its own process lets the library function (and the tests) crawl as often as they like. The worker reads
``config.json`` and the page log from ``WORK_DIR``, crawls what is left, and writes ``finished.json``
with scrapy's close reason when the crawl ends on its own (not when it is interrupted).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kdata.atomic import write_json_atomic
from kdata.config import from_dict
from kdata.crawl.config import CrawlConfig
from kdata.crawl.links import canonical
from kdata.crawl.pagelog import CONFIG, FINISHED, PAGE_LOG, frontier, read_records
from kdata.crawl.settings import scrapy_settings
from kdata.lifetime import freeze_at_exit

COMPLETE_REASONS = ("finished", "max_images")  # anything else (shutdown, cancelled) resumes next time


def run(work: Path) -> int:
    from scrapy.crawler import CrawlerProcess

    from kdata.crawl.spider import ImageCrawlSpider

    config = from_dict(CrawlConfig, json.loads((work / CONFIG).read_text(encoding="utf-8")), "crawl config")
    state = frontier(read_records(work / PAGE_LOG), [canonical(s) for s in config.seeds])
    process = CrawlerProcess(scrapy_settings(config, work))
    crawler = process.create_crawler(ImageCrawlSpider)
    reasons: list[str] = []

    def closed(reason: str) -> None:
        reasons.append(reason)

    from scrapy import signals

    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler, config=config, state=state)
    process.start()
    reason = reasons[0] if reasons else "unknown"
    if reason in COMPLETE_REASONS:
        stats = {k: v for k, v in (crawler.stats.get_stats() or {}).items() if isinstance(v, int | float | str)}
        write_json_atomic(work / FINISHED, {"reason": reason, "scrapy_stats": stats})
        return 0
    return 3


if __name__ == "__main__":
    freeze_at_exit()  # scrapy and Twisted loaded: about 0.1 s of a crawl's end, which the command waits for
    sys.exit(run(Path(sys.argv[1])))
