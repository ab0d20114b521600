"""Scrapy settings for a crawl, from a :class:`CrawlConfig`. Politeness is scrapy's own machinery:
``ROBOTSTXT_OBEY`` (robots.txt fetched once per host and cached by the middleware; its Crawl-delay applied
by kcli's subclass of it), a per-domain
``DOWNLOAD_DELAY`` with AutoThrottle adapting above it to the server's latency, bounded retries, and an
honest User-Agent; robots.txt rules are matched against kcli's own token."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kdata.crawl.browser import browser_settings
from kdata.crawl.config import CrawlConfig
from kdata.crawl.pagelog import PAGE_LOG


def scrapy_settings(config: CrawlConfig, work: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "BOT_NAME": config.user_agent_token,
        "USER_AGENT": config.resolved_user_agent,
        "ROBOTSTXT_OBEY": config.obey_robots,
        "ROBOTSTXT_USER_AGENT": config.user_agent_token,
        "DOWNLOAD_DELAY": config.download_delay,
        "AUTOTHROTTLE_ENABLED": config.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(config.download_delay, 0.1),
        "AUTOTHROTTLE_MAX_DELAY": max(config.autothrottle_max_delay, config.download_delay),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "CONCURRENT_REQUESTS": 8,
        "CONCURRENT_REQUESTS_PER_DOMAIN": config.concurrency_per_domain,
        "RETRY_ENABLED": config.retries > 0,
        "RETRY_TIMES": config.retries,
        "DOWNLOAD_TIMEOUT": config.timeout,
        "DOWNLOAD_MAXSIZE": 20 * 1024 * 1024,  # an HTML page larger than this is not a gallery page
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,  # no control ports opened by a crawl
        "REMOTE_CONTROL_ENABLED": False,
        # Breadth-first: each request carries priority -depth; FIFO within a priority.
        "DEPTH_PRIORITY": 0,
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "DOWNLOADER_MIDDLEWARES": {
            "kdata.crawl.politeness.NetworkGuardMiddleware": 75,
            # scrapy's robots.txt middleware, at its place, with Crawl-delay applied.
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "kdata.crawl.politeness.RobotsCrawlDelayMiddleware": 100,
        },
        "ITEM_PIPELINES": {"kdata.crawl.pipeline.PageLogPipeline": 100},
        "KCLI_ALLOW_PRIVATE": config.allow_private,
        "KCLI_PAGE_LOG": str(work / PAGE_LOG),
        "LOG_FILE": str(work / "scrapy.log"),
        "LOG_LEVEL": os.environ.get("KCLI_CRAWL_LOG_LEVEL", "INFO"),
        "LOG_FILE_APPEND": True,
    }
    if config.js or config.js_auto:
        settings.update(browser_settings(config))
    return settings
