"""``kcli crawl`` end to end against the fixture site on 127.0.0.1 (static, JavaScript and infinite-scroll
galleries, robots.txt, noai opt-outs, srcset and lazy images, EUC-KR pages, duplicates, broken and
off-site links). One crawl per module, run as a user runs it: the CLI in a subprocess."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kdata.crawl.localsite import SiteServer
from kdata.crawl.pagelog import read_records
from kdata.ingest.urls import OUTPUT_FIELDS
from kdata.manifest import open_manifest
from tests.crawl.runs import crawl_json
from tests.crawl.sitegen import ORPHAN_ALT

pytestmark = pytest.mark.browser

OK, REJECTED, FAILED = "ok", "rejected", "failed"
EXPECTED_IMAGES = {
    "/img/hanbok.jpg": (OK, None), "/img/og.jpg": (OK, None), "/img/hanok-960.jpg": (OK, None),
    "/img/tea@2x.jpg": (OK, None), "/img/missing.jpg": (FAILED, "http_error:404"),
    "/private/p.jpg": (REJECTED, "robots_txt"), "/img/optout.png": (REJECTED, "opt_out:noimageai"),
    "/img/lazy-1.jpg": (OK, None), "/img/lazy-2-640.jpg": (OK, None), "/img/lazy-3.jpg": (OK, None),
    "/img/js-1.jpg": (OK, None), "/img/js-2.jpg": (OK, None),
    **{f"/img/scroll-{i}.jpg": (OK, None) for i in range(7)},
    "/img/after-noai.jpg": (OK, None), "/img/euc-header.jpg": (OK, None), "/img/euc-meta.jpg": (OK, None),
    "/img/euc-bare.jpg": (OK, None), "/img/orphan.jpg": (OK, None),
}
EXPECTED_PAGES = {  # path: (status, reason, depth, rendered in Chromium)
    "/": (OK, None, 0, False), "/sitemap.xml": (OK, None, 0, False), "/orphan.html": (OK, None, 0, False),
    "/gallery.html": (OK, None, 1, False), "/lazy.html": (OK, None, 1, False),
    "/js-gallery.html": (OK, None, 1, True), "/scroll.html": (OK, None, 1, True),
    "/private/secret.html": (REJECTED, "robots_txt", 1, False),
    "/no-kcli/page.html": (REJECTED, "robots_txt", 1, False),
    "/noai-meta.html": (REJECTED, "opt_out:noai", 1, False),
    "/kcli-meta.html": (REJECTED, "opt_out:noimageai", 1, False),
    "/noai-header.html": (REJECTED, "opt_out:noai", 1, False), "/followed-from-noai.html": (OK, None, 2, False),
    "/euc-kr/header.html": (OK, None, 1, False), "/euc-kr/meta.html": (OK, None, 1, False),
    "/euc-kr/bare.html": (OK, None, 1, False), "/missing.html": (FAILED, "http_error:404", 1, False),
}


def path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture(scope="module")
def crawled(site: SiteServer, fast_config: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, int]:
    out = tmp_path_factory.mktemp("crawl") / "out"
    result = crawl_json(f"{site.base_url}/", f"{site.base_url}/sitemap.xml", "--out", str(out), "--config",
                        str(fast_config), "--js", r"/scroll\.html$", "--allow-private")
    return out, result, len(site.requests)


def rows(manifest: Path) -> dict[str, dict]:
    return {path(r["url"]): r for r in open_manifest(manifest).read_table().to_pylist()}


def test_collects_exactly_the_expected_images_with_reasons(crawled: tuple[Path, dict, int]) -> None:
    out, result, _ = crawled
    images = rows(out / "images")
    assert {p: (r["status"], r["reason"]) for p, r in images.items()} == EXPECTED_IMAGES
    assert result["image_stats"] == {"total": 24, "kept": 21, "dropped/robots_txt": 1, "dropped/opt_out": 1,
                                     "failed/http_error": 1}
    found_in = {p: r["found_in"] for p, r in images.items()}
    assert (found_in["/img/hanok-960.jpg"], found_in["/img/tea@2x.jpg"], found_in["/img/lazy-2-640.jpg"]) == (
        "picture", "srcset", "lazy")
    assert found_in["/img/og.jpg"] == "og:image" and images["/img/og.jpg"]["alt_text"] == "대표 이미지"


def test_korean_alt_and_caption_text_is_exact(crawled: tuple[Path, dict, int]) -> None:
    images = rows(crawled[0] / "images")
    context = {p: (images[p]["alt_text"], images[p]["caption"], images[p]["heading"], images[p]["page_title"])
               for p in ("/img/euc-header.jpg", "/img/euc-meta.jpg", "/img/euc-bare.jpg", "/img/js-1.jpg")}
    assert context == {
        "/img/euc-header.jpg": ("똠방각하가 사는 한옥", "서울 북촌의 한옥 마을", "북촌 한옥", "한옥 사진첩"),
        "/img/euc-meta.jpg": ("전통 찻잔", "녹차 한 잔", "녹차", "차 이야기"),
        "/img/euc-bare.jpg": ("한지 공예품", "전주 한지로 만든 등", "전주 한지", "한지 공예"),
        "/img/js-1.jpg": ("자바스크립트 그림 하나", "자바스크립트 그림 하나 설명", "자바스크립트로 그린 갤러리",
                          "자바스크립트 갤러리"),
    }
    assert images["/img/euc-header.jpg"]["context_text"] == (
        "북촌 한옥 골목을 따라 걷다 보면 서울 북촌의 한옥 마을 기와가 아름답다.")
    assert images["/img/orphan.jpg"]["alt_text"] == ORPHAN_ALT  # stored NFC though the page has NFD
    assert images["/img/hanok-960.jpg"]["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert {images[p]["page_lang"] for p in images} == {"ko"}


def test_every_page_is_a_row_with_its_outcome(site: SiteServer, crawled: tuple[Path, dict, int]) -> None:
    out, result, _ = crawled
    pages = rows(out / "pages")
    assert {p: (r["status"], r["reason"], r["depth"], r["rendered"]) for p, r in pages.items()} == EXPECTED_PAGES
    encodings = {p: pages[p]["encoding"] for p in ("/euc-kr/header.html", "/euc-kr/meta.html", "/euc-kr/bare.html",
                                                    "/gallery.html")}
    assert encodings == {"/euc-kr/header.html": "cp949", "/euc-kr/meta.html": "cp949", "/euc-kr/bare.html": "cp949",
                         "/gallery.html": "utf-8"}
    assert pages["/scroll.html"]["image_count"] == 7 and pages["/js-gallery.html"]["image_count"] == 2
    assert result["page_stats"]["skipped/offsite"] == 2  # offsite.example and the CC licence link
    logged = read_records(out / "_crawl" / "pages.jsonl")  # a resumed crawl's frontier: accepted links only
    assert {path(link) for r in logged for link in r["links"]} == set(EXPECTED_PAGES) - {"/sitemap.xml"}
    assert {urlsplit(link).netloc for r in logged for link in r["links"]} == {urlsplit(site.base_url).netloc}
    assert [s["stage"] for s in open_manifest(out / "images").lineage_chain] == ["crawl-images", "crawl"]


def test_forbidden_things_are_never_fetched_and_images_only_once(site: SiteServer,
                                                                 crawled: tuple[Path, dict, int]) -> None:
    requests = Counter(site.requests[: crawled[2]])
    never = [p for p in requests if p.startswith(("/private/", "/no-kcli/")) or p in (
        "/hidden.html", "/img/hidden.jpg", "/img/noai-meta.jpg", "/img/kcli-meta.jpg", "/img/noai-header.jpg")]
    assert never == []
    fetched_images = {p: n for p, n in requests.items() if p.startswith("/img/")}
    # Chromium never loads images (they are aborted): each image is fetched once, by the ingest downloader.
    assert fetched_images == {p: 1 for p in EXPECTED_IMAGES if p.startswith("/img/")}
    assert requests["/robots.txt"] == 2  # once for the page crawl (scrapy), once for the image downloads


def test_a_duplicate_image_is_one_row_that_keeps_every_page(crawled: tuple[Path, dict, int]) -> None:
    hanbok = rows(crawled[0] / "images")["/img/hanbok.jpg"]
    assert [path(u) for u in hanbok["page_urls"]] == ["/", "/gallery.html", "/lazy.html"]
    assert (path(hanbok["page_url"]), hanbok["depth"], hanbok["page_count"]) == ("/", 0, 3)
    contexts = json.loads(hanbok["page_contexts"])
    assert [(path(c["page_url"]), c["alt_text"], c["caption"]) for c in contexts] == [
        ("/", "한복을 입은 여인", None), ("/gallery.html", "한복을 입은 여인", "단오날의 한복"),
        ("/lazy.html", "다시 나온 한복", None)]


def test_image_manifest_has_the_ingest_contract(crawled: tuple[Path, dict, int]) -> None:
    manifest = open_manifest(crawled[0] / "images")
    names = set(manifest.schema().names)
    assert set(OUTPUT_FIELDS.names) <= names
    assert {"page_url", "page_urls", "depth", "crawled_at", "alt_text", "caption", "context_text"} <= names
    ok = [r for r in manifest.read_table().to_pylist() if r["status"] == "ok"]
    assert all(r["image_bytes"] and len(r["sha256"]) == 64 and (r["width"], r["height"]) == (24, 16)
               and r["http_status"] == 200 and r["source"] == "crawl" for r in ok)


def test_rerun_resumes_without_fetching_anything_again(site: SiteServer, fast_config: Path,
                                                       crawled: tuple[Path, dict, int]) -> None:
    out, first, before = crawled
    again = crawl_json(f"{site.base_url}/", f"{site.base_url}/sitemap.xml", "--out", str(out), "--config",
                       str(fast_config), "--js", r"/scroll\.html$", "--allow-private")
    assert again["resumed"] is True and again["fingerprint"] == first["fingerprint"]
    assert site.requests[before:] == []
