"""From the page log to tables: the page manifest's rows, and one image candidate per distinct URL.

An image found on several pages becomes one candidate that keeps every page: ``page_urls`` lists them and
``page_contexts`` (JSON) holds the context the image had on each (its alt text and caption may differ from
page to page). The context columns come from the shallowest page it was found on (ties: the smallest page
URL), so the choice does not depend on the order in which concurrent requests happened to finish.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from kdata.schema import Status

PAGE_SCHEMA = pa.schema([
    ("key", pa.string()), ("url", pa.string()), ("status", pa.string()), ("reason", pa.string()),
    ("kind", pa.string()), ("final_url", pa.string()), ("depth", pa.int32()), ("referer", pa.string()),
    ("http_status", pa.int32()), ("content_type", pa.string()), ("encoding", pa.string()), ("title", pa.string()),
    ("lang", pa.string()), ("license", pa.string()), ("rendered", pa.bool_()), ("image_count", pa.int32()),
    ("link_count", pa.int32()), ("crawled_at", pa.string()),
])
CANDIDATE_SCHEMA = pa.schema([
    ("url", pa.string()), ("source", pa.string()), ("page_url", pa.string()), ("page_urls", pa.list_(pa.string())),
    ("page_count", pa.int32()), ("depth", pa.int32()), ("crawled_at", pa.string()), ("page_title", pa.string()),
    ("page_lang", pa.string()), ("alt_text", pa.string()), ("image_title", pa.string()), ("caption", pa.string()),
    ("heading", pa.string()), ("context_text", pa.string()), ("license", pa.string()), ("found_in", pa.string()),
    ("declared_width", pa.int32()), ("page_contexts", pa.string()),
])
CONTEXT_FIELDS = ("alt_text", "image_title", "caption", "heading", "context_text", "license", "found_in",
                  "declared_width")


def page_key(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()[:16]


def latest_per_url(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per page URL (the last written wins: a page redone after a crash replaces nothing)."""
    by_url: dict[str, dict[str, Any]] = {}
    for record in records:
        by_url[record["url"]] = record
    return list(by_url.values())


def page_table(records: Iterable[dict[str, Any]]) -> pa.Table:
    rows = []
    for record in sorted(latest_per_url(records), key=lambda r: (r.get("depth") or 0, r["url"])):
        row = {name: record.get(name) for name in PAGE_SCHEMA.names}
        row.update(key=page_key(record["url"]), image_count=len(record.get("images", [])),
                   link_count=len(record.get("links", [])))
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=PAGE_SCHEMA)


def image_candidates(records: Iterable[dict[str, Any]], source: str) -> pa.Table:
    """One row per distinct image URL found on an ``ok`` page, sorted by URL."""
    found: dict[str, list[tuple[tuple[int, str], dict[str, Any], dict[str, Any]]]] = {}
    for record in latest_per_url(records):
        if record.get("status") != Status.OK:
            continue
        rank = (int(record.get("depth") or 0), record["url"])
        for image in record.get("images", []):
            found.setdefault(image["url"], []).append((rank, image, record))
    rows = [_candidate(url, sorted(sightings, key=lambda s: s[0]), source) for url, sightings in sorted(found.items())]
    return pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA)


def _candidate(url: str, sightings: list[tuple[tuple[int, str], dict[str, Any], dict[str, Any]]],
               source: str) -> dict[str, Any]:
    """The row for one image: context columns from its first sighting, every sighting in ``page_contexts``."""
    _, image, page = sightings[0]
    contexts = [{"page_url": p["url"], "depth": p.get("depth"), **{k: i.get(k) for k in CONTEXT_FIELDS}}
                for _, i, p in sightings]
    return {
        **{k: image.get(k) for k in CONTEXT_FIELDS},
        "url": url, "source": source, "page_url": page["url"], "page_urls": [c["page_url"] for c in contexts],
        "page_count": len(contexts), "depth": page.get("depth"), "crawled_at": page.get("crawled_at"),
        "page_title": page.get("title"), "page_lang": page.get("lang"),
        "page_contexts": json.dumps(contexts, ensure_ascii=False),
    }


def page_counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Crawl counters in the runner's vocabulary: total, kept, dropped/<reason>, failed/<reason>, skipped/..."""
    from kdata.runner.stats import reason_class

    counts: dict[str, int] = {}
    for record in latest_per_url(records):
        counts["total"] = counts.get("total", 0) + 1
        status = record.get("status")
        key = "kept" if status == Status.OK else (
            f"{'dropped' if status == Status.REJECTED else 'failed'}/{reason_class(record.get('reason'))}")
        counts[key] = counts.get(key, 0) + 1
        for reason, n in (record.get("skipped") or {}).items():
            counts[f"skipped/{reason}"] = counts.get(f"skipped/{reason}", 0) + n
    return dict(sorted(counts.items()))
