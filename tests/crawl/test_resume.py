"""A crawl killed with SIGKILL part way and restarted ends with the same pages and images as an
uninterrupted crawl, and the restart never fetches a page the killed run had finished."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kdata.crawl.localsite import SiteServer, serve_site
from kdata.crawl.pagelog import read_records
from kdata.manifest import open_manifest
from tests.crawl.runs import crawl_json
from tests.crawl.sitegen import jpeg
from tests.helpers.cli import kcli_popen

pytestmark = pytest.mark.slow  # three crawls of the slowed-down chain site
PAGES = 20
SLOW = """download_delay = 0.12
autothrottle = false
concurrency_per_domain = 1
retries = 0
js_auto = false
max_depth = 40
"""


@pytest.fixture(scope="module")
def chain_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteServer]:
    """Pages p0..p19; each links to the next two and shows its own image and one shared by all."""
    root = tmp_path_factory.mktemp("chain")
    (root / "img").mkdir()
    (root / "img" / "shared.jpg").write_bytes(jpeg((10, 20, 30)))
    for i in range(PAGES):
        (root / "img" / f"{i}.jpg").write_bytes(jpeg((i * 8, 100, 200)))
        links = "".join(f'<a href="p{j}.html">{j}</a>' for j in (i + 1, i + 2) if j < PAGES)
        (root / f"p{i}.html").write_text(f'<html lang="ko"><head><title>쪽 {i}</title></head><body><h1>쪽 {i}</h1>'
                                         f'<img src="img/{i}.jpg" alt="그림 {i}"><img src="img/shared.jpg" alt="공통">'
                                         f"{links}</body></html>", encoding="utf-8")
    with serve_site(root) as server:
        yield server


def outcome(out: Path) -> tuple[dict, dict]:
    pages = {urlsplit(r["url"]).path: r["status"] for r in open_manifest(out / "pages").read_table().to_pylist()}
    images = {urlsplit(r["url"]).path: (r["status"], r["page_count"])
              for r in open_manifest(out / "images").read_table().to_pylist()}
    return pages, images


def wait_until(predicate, timeout: float = 60.0) -> None:  # noqa: ANN001 - a zero-argument callable
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_killed_crawl_resumes_to_the_same_result(chain_site: SiteServer, tmp_path: Path) -> None:
    config = tmp_path / "slow.toml"
    config.write_text(SLOW, encoding="utf-8")
    args = [f"{chain_site.base_url}/p0.html", "--config", str(config), "--allow-private"]
    reference = crawl_json(*args, "--out", str(tmp_path / "whole"))

    out = tmp_path / "killed"
    run = kcli_popen("crawl", *args, "--out", str(out), "--json", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "_crawl" / "pages.jsonl"
    wait_until(lambda: len(read_records(log)) >= 6)
    run.send_signal(signal.SIGKILL)  # the whole kcli process, as kill -9 would
    run.wait()
    worker = int((out / "_crawl" / "worker.pid").read_text())
    wait_until(lambda: gone(worker), timeout=20)  # the crawl worker dies with it
    done_before = {urlsplit(r["url"]).path for r in read_records(log)}
    assert 6 <= len(done_before) < PAGES and not (out / "_crawl" / "finished.json").exists()
    mark = len(chain_site.requests)

    resumed = crawl_json(*args, "--out", str(out))
    refetched = {p for p in chain_site.requests[mark:] if p.endswith(".html")} & done_before
    assert refetched == set() and resumed["resumed"] is True
    assert outcome(out) == outcome(tmp_path / "whole")
    pages, images = outcome(out)
    assert pages == {f"/p{i}.html": "ok" for i in range(PAGES)}
    assert images == {"/img/shared.jpg": ("ok", PAGES), **{f"/img/{i}.jpg": ("ok", 1) for i in range(PAGES)}}
    assert resumed["image_stats"] == reference["image_stats"] == {"total": PAGES + 1, "kept": PAGES + 1}
