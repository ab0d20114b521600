"""The crawl's durable state: one JSON line per finished page, appended and flushed as it happens.

Resuming rebuilds the crawl from this log: pages in it are done and never fetched again; links they
found that are not done are the frontier; the images found so far count against ``max_images``. Scrapy's
own ``JOBDIR`` is not used because its disk queue writes its head/tail offsets only on a clean shutdown
(queuelib ``FifoDiskQueue.close``), so a crawl killed with SIGKILL or by a crash could not resume from it.
A page whose line was not written when the process died is simply fetched again; a torn last line (the
process died mid-write) is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Files of a crawl's work folder (``OUT/_crawl``).
CONFIG = "config.json"  # the resolved crawl config; a resume with different settings is refused
PAGE_LOG = "pages.jsonl"
FINISHED = "finished.json"  # written by the worker when the crawl ended on its own, with scrapy's reason


class PageLog:
    """Append-only JSONL of page records; each line is flushed before the next page is processed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(path)
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open for the crawl

    def append(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._handle.flush()  # in the kernel's hands: survives the process being killed

    def close(self) -> None:
        self._handle.close()


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line left half-written by a killed process, so new lines start on a line of their own."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    with open(path, "r+b") as handle:
        handle.truncate(data.rfind(b"\n") + 1)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record in the log, in the order written; a torn last line is skipped."""
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return records


@dataclass
class Frontier:
    """Where a crawl stands: what is done, what is left to fetch, and what has been collected."""

    done: set[str] = field(default_factory=set)
    pending: list[tuple[str, int, str | None]] = field(default_factory=list)  # (url, depth, referer)
    image_urls: set[str] = field(default_factory=set)
    requested: int = 0  # page requests already made (against max_pages)

    @property
    def seen(self) -> set[str]:
        return self.done | {url for url, _, _ in self.pending}


def frontier(records: Iterable[dict[str, Any]], seeds: Iterable[str]) -> Frontier:
    """Rebuild the crawl state from the log: done pages, pending links (shallowest first), images."""
    state = Frontier()
    found: dict[str, tuple[int, str | None]] = {seed: (0, None) for seed in seeds}  # url -> (depth, referer)
    for record in records:
        state.done.add(record["url"])
        state.requested += 1
        state.image_urls.update(image["url"] for image in record.get("images", []))
        child_depth = int(record.get("child_depth", int(record.get("depth") or 0) + 1))
        for link in record.get("links", []):
            if link not in found or child_depth < found[link][0]:
                found[link] = (child_depth, record["url"])
    pending = [(url, depth, referer) for url, (depth, referer) in found.items() if url not in state.done]
    state.pending = sorted(pending, key=lambda item: item[1])  # stable: discovery order within a depth
    return state
