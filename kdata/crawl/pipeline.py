"""The item pipeline: every page record goes to the durable page log, then a progress line to stdout.

The parent process (:mod:`kdata.crawl.run`) reads those lines to drive its progress callback; scrapy's
own log goes to a file, so stdout carries nothing else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler

from kdata.crawl.pagelog import PageLog, read_records


class PageLogPipeline:
    def __init__(self, path: Path) -> None:
        self.path = path
        records = read_records(path)
        self.pages = len(records)
        self.images = {image["url"] for record in records for image in record.get("images", [])}
        self.log: PageLog | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageLogPipeline:
        return cls(Path(crawler.settings["KCLI_PAGE_LOG"]))

    def open_spider(self) -> None:
        self.log = PageLog(self.path)

    def close_spider(self) -> None:
        if self.log is not None:
            self.log.close()

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        assert self.log is not None
        self.log.append(item)
        self.pages += 1
        self.images.update(image["url"] for image in item.get("images", []))
        progress = {"pages": self.pages, "images": len(self.images), "url": item["url"], "status": item["status"]}
        sys.stdout.write(json.dumps(progress, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return item
