"""Crawl scope and limits on the fixture site (static pages only): the network guard, depth,
include/exclude patterns, page and image budgets, and a changed setting refused on resume."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kdata.crawl.localsite import SiteServer, serve_site
from kdata.manifest import open_manifest
from tests.crawl.runs import FAST, crawl, crawl_json


@pytest.fixture(scope="module")
def static_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "static.toml"
    path.write_text(FAST + "js_auto = false\n", encoding="utf-8")
    return path


def outcome(out: Path, kind: str) -> dict[str, tuple]:
    table = open_manifest(out / kind).read_table()
    return {urlsplit(r["url"]).path: (r["status"], r["reason"]) for r in table.to_pylist()}


def test_loopback_seed_is_refused_without_allow_private(site: SiteServer, static_config: Path, tmp_path: Path) -> None:
    before = len(site.requests)
    result = crawl_json(f"{site.base_url}/", "--out", str(tmp_path / "out"), "--config", str(static_config))
    assert outcome(tmp_path / "out", "pages") == {"/": ("rejected", "blocked:loopback")}
    assert result["image_rows"] == 0 and site.requests[before:] == []


def test_depth_include_and_exclude(site: SiteServer, static_config: Path, tmp_path: Path) -> None:
    result = crawl_json(f"{site.base_url}/", "--out", str(tmp_path / "out"), "--config", str(static_config),
                        "--allow-private", "--max-depth", "1", "--include", "/(gallery|lazy|euc-kr)",
                        "--exclude", "bare")
    assert set(outcome(tmp_path / "out", "pages")) == {"/", "/gallery.html", "/lazy.html", "/euc-kr/header.html",
                                                       "/euc-kr/meta.html"}
    stats = result["page_stats"]
    assert (stats["skipped/not_included"], stats["skipped/excluded"], stats["skipped/offsite"]) == (8, 1, 2)


def test_page_and_image_budgets_and_changed_settings(site: SiteServer, static_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "pages3"
    args = [f"{site.base_url}/", "--config", str(static_config), "--allow-private"]
    result = crawl_json(*args, "--out", str(out), "--max-pages", "3")
    assert set(outcome(out, "pages")) == {"/", "/gallery.html", "/lazy.html"}  # breadth-first, in link order
    assert result["page_stats"]["skipped/max_pages"] == 11 and result["finish_reason"] == "finished"

    done = crawl(*args, "--out", str(out), "--max-pages", "4")
    assert done.returncode == 2 and "different settings (max_pages changed)" in done.stderr

    out = tmp_path / "images2"
    result = crawl_json(*args, "--out", str(out), "--max-images", "2")
    assert set(outcome(out, "images")) == {"/img/hanbok.jpg", "/img/og.jpg"}
    assert result["finish_reason"] == "max_images" and "/" in outcome(out, "pages")


def test_robots_crawl_delay_for_kcli_spaces_page_requests(static_config: Path, tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "robots.txt").write_text("User-agent: kcli\nCrawl-delay: 1\n\nUser-agent: *\nCrawl-delay: 0\n",
                                     encoding="utf-8")
    pages = ["a.html", "b.html", "c.html"]
    (root / "index.html").write_text("".join(f'<a href="{p}">{p}</a>' for p in pages), encoding="utf-8")
    for page in pages:
        (root / page).write_text("<p>한복</p>", encoding="utf-8")
    with serve_site(root) as server:
        result = crawl_json(f"{server.base_url}/", "--out", str(tmp_path / "out"), "--config", str(static_config),
                            "--allow-private")
        arrivals = [t for path, t in zip(server.requests, server.times) if path.endswith(".html") or path == "/"]
    assert result["page_stats"]["kept"] == 4 and len(arrivals) == 4
    # download_delay = 0 and 4 concurrent requests per domain in the config: only Crawl-delay spaces them.
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert min(gaps) >= 0.9, gaps
