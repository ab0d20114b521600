"""``kcli crawl``: crawl pages in a child process, then download the images through the ingest stage.

Output layout::

    OUT/pages/     page manifest: one row per page (ok, rejected with a reason, failed with a reason)
    OUT/images/    image manifest: one row per distinct image URL, with its page context columns
    OUT/crawl.json the resolved config, the crawl's counters and the image stage's stats
    OUT/_crawl/    the crawl's state: config.json, pages.jsonl (the durable page log), scrapy.log

Re-running the same command resumes: an unfinished crawl continues from its page log without fetching
done pages again; a finished one goes straight to the image stage, which resumes by shards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from kdata.atomic import atomic_path, write_json_atomic
from kdata.crawl.config import CrawlConfig
from kdata.crawl.images import images_config, ingest_images
from kdata.crawl.outputs import image_candidates, page_counts, page_table
from kdata.crawl.pagelog import CONFIG, FINISHED, PAGE_LOG, read_records
from kdata.crawl.process import run_worker
from kdata.errors import ConfigError, MissingDependencyError
from kdata.manifest import DESCRIPTOR, Lineage, Manifest, open_manifest, write_manifest
from kdata.outputs import check_writable_output, output_lock, prepare_output, user_entries
from kdata.progress import ProgressEvent, notify
from kdata.runner import RunOptions, RunResult, resolved_config
from kdata.schema import PAGE

WORK = "_crawl"
SUMMARY = "crawl.json"


@dataclass
class CrawlResult:
    pages: Manifest
    images: RunResult
    page_stats: dict[str, int]
    finish_reason: str
    resumed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "pages": str(self.pages.path), "images": str(self.images.manifest.path),
            "page_rows": self.pages.num_rows, "image_rows": self.images.manifest.num_rows,
            "page_stats": self.page_stats, "image_stats": self.images.stats, "finish_reason": self.finish_reason,
            "resumed": self.resumed, "fingerprint": self.images.manifest.fingerprint,
        }


def crawl(
    config: CrawlConfig,
    out: str | Path,
    options: RunOptions = RunOptions(),
) -> CrawlResult:
    """Crawl ``config.seeds`` into ``out`` (pages, then images); re-running resumes.

    Progress comes in two phases: ``crawl`` (pages fetched, one crawl process) and ``crawl-images`` (shards
    downloaded, on ``options.workers`` processes; the crawl itself is one scrapy process, whatever the
    executor settings).
    """
    out = Path(out).resolve()
    check_browser(config)
    check_writable_output(out, "kcli crawl output")
    with output_lock(out):  # one crawl per OUT at a time
        return _crawl(config, out, options)


def _crawl(config: CrawlConfig, out: Path, options: RunOptions) -> CrawlResult:
    work = out / WORK
    resumed = _prepare(out, work, config, options.overwrite)
    if not (work / FINISHED).exists():
        run_worker(work, lambda event: notify(options.progress, ProgressEvent(
            "crawl", event["pages"], config.max_pages or None, "pages",
            detail=f"{event['images']} images · {event['url']}")))
    records = read_records(work / PAGE_LOG)
    pages = _page_manifest(out / "pages", records, config)
    candidates = work / "candidates.parquet"
    if not candidates.exists():  # written once: its hash is the image stage's input fingerprint
        with atomic_path(candidates) as tmp:
            pq.write_table(image_candidates(records, config.source), tmp, compression="zstd")
    # The image stage never overwrites: --overwrite already cleared ``out`` above, and a resumed crawl keeps
    # the shards it downloaded.
    images = ingest_images(images_config(config, candidates), out / "images", pages,
                           replace(options, overwrite=False))
    finished = _read_json(work / FINISHED)
    result = CrawlResult(pages, images, page_counts(records), finished.get("reason", "unknown"), resumed)
    write_json_atomic(out / SUMMARY, {"config": resolved_config(config), **result.to_dict()})
    return result


def check_browser(config: CrawlConfig) -> None:
    if (config.js or config.js_auto) and not Path(config.chromium).exists():
        raise MissingDependencyError(
            f"Chromium not found at {config.chromium} (needed for JavaScript pages): install it with "
            "'apt-get install -y chromium fonts-nanum' (scripts/setup.sh does), set chromium = \"PATH\" in the "
            "crawl config, or turn rendering off with js_auto = false and no js patterns"
        )


def _prepare(out: Path, work: Path, config: CrawlConfig, overwrite: bool) -> bool:
    """Start a crawl in ``out`` or resume the one there; refuse a different crawl's directory."""
    record = resolved_config(config)
    prepare_output(out, "crawl", overwrite, "kcli crawl output")
    if (work / CONFIG).exists():
        previous = _read_json(work / CONFIG)
        if previous != record:
            changed = [k for k in sorted(set(previous) | set(record)) if previous.get(k) != record.get(k)]
            raise ConfigError(
                f"{out} holds a crawl with different settings ({', '.join(changed)} changed); re-run with the "
                "same settings to resume, or pass --overwrite to start again"
            )
        return True
    if user_entries(out):  # another command's output
        raise ConfigError(f"{out} exists and is not a kcli crawl output; choose an empty or new --out directory")
    write_json_atomic(work / CONFIG, record)
    return False


def _page_manifest(path: Path, records: list[dict[str, Any]], config: CrawlConfig) -> Manifest:
    if (path / DESCRIPTOR).exists():
        return open_manifest(path)
    lineage = Lineage(stage="crawl", config=resolved_config(config))
    return write_manifest(path, [page_table(records)], PAGE, lineage)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

