"""Page context extraction on small HTML strings: srcset/picture/lazy choice, context columns, NFC."""

from __future__ import annotations

import unicodedata

import lxml.html
import pytest

from kdata.crawl.extract import page_images, page_info, window
from kdata.crawl.srcset import Candidate, largest, parse_srcset

BASE = "http://site.test/gallery/"


def images(body: str, head: str = "", context_chars: int = 40) -> list[dict]:
    root = lxml.html.document_fromstring(f"<html lang='ko'><head>{head}</head><body>{body}</body></html>")
    info = page_info(root, BASE, "kcli")
    return [i.to_dict() for i in page_images(root, info, context_chars)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.jpg 480w, b.jpg 960w", [("a.jpg", 480, None), ("b.jpg", 960, None)]),
        ("a.jpg 1x,b.jpg 2x", [("a.jpg", None, 1.0), ("b.jpg", None, 2.0)]),
        ("a.jpg, b.jpg 1.5x", [("a.jpg", None, None), ("b.jpg", None, 1.5)]),
        ("https://cdn.test/i.jpg?w=1,2 800w", [("https://cdn.test/i.jpg?w=1,2", 800, None)]),
        ("a.jpg 12q, b.jpg 3w", [("a.jpg", None, None), ("b.jpg", 3, None)]),
        ("", []),
    ],
)
def test_parse_srcset(value: str, expected: list[tuple]) -> None:
    assert [(c.url, c.width, c.density) for c in parse_srcset(value)] == expected


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([Candidate("s.jpg"), Candidate("w4.jpg", 400, found_in="srcset"), Candidate("w9.jpg", 900)], "w9.jpg"),
        ([Candidate("s.jpg"), Candidate("x2.jpg", density=2.0)], "x2.jpg"),
        ([Candidate("s.jpg"), Candidate("x1.jpg", density=1.0)], "s.jpg"),
        ([Candidate("lazy.jpg", found_in="lazy"), Candidate("placeholder.gif", found_in="src")], "lazy.jpg"),
        ([], None),
    ],
)
def test_largest_candidate(candidates: list[Candidate], expected: str | None) -> None:
    best = largest(candidates)
    assert (best.url if best else None) == expected


def test_picture_sources_srcset_lazy_and_og_image() -> None:
    found = images(
        '<picture title="그림"><source srcset="p-400.webp 400w, p-1600.webp 1600w" type="image/webp">'
        '<img src="p.jpg" srcset="p-800.jpg 800w" alt="한옥"></picture>'
        '<img src="data:image/gif;base64,R0lGOD" data-srcset="l-320.jpg 320w, l-640.jpg 640w" alt="지연">'
        '<img data-src="/abs/l2.jpg"><img src="javascript:void(0)"><img src="p.jpg#again">',
        head='<meta property="og:image" content="https://cdn.test/og.jpg">'
             '<meta property="og:image:alt" content="대표">',
    )
    assert [(i["url"], i["found_in"], i["declared_width"]) for i in found] == [
        ("http://site.test/gallery/p-1600.webp", "picture", 1600),
        ("http://site.test/gallery/l-640.jpg", "lazy", 640),
        ("http://site.test/abs/l2.jpg", "lazy", None),
        ("http://site.test/gallery/p.jpg", "src", None),
        ("https://cdn.test/og.jpg", "og:image", None),
    ]
    assert found[0]["image_title"] == "그림" and found[-1]["alt_text"] == "대표"


def test_context_columns_figcaption_heading_window_and_license() -> None:
    found = images(
        "<h1>궁궐</h1><p>경복궁의 봄 풍경을 담았다.</p>"
        '<figure><img src="a.jpg" alt=" 근정전  앞마당 " title="근정전"><figcaption>봄날의 <b>근정전</b></figcaption>'
        '<a rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA</a></figure>'
        '<h2>후원</h2><script>var hidden = "스크립트";</script><p>연못과 정자가 있다.</p><img src="b.jpg">'
        '<footer><a href="https://creativecommons.org/publicdomain/zero/1.0/">CC0</a></footer>',
        context_chars=12,
    )
    first, second = found
    assert (first["alt_text"], first["image_title"], first["caption"], first["heading"]) == (
        "근정전 앞마당", "근정전", "봄날의 근정전", "궁궐")
    assert first["license"] == "https://creativecommons.org/licenses/by-sa/4.0/"
    assert first["context_text"] == "봄 풍경을 담았다. 봄날의 근정전 CC"  # 12 characters each side, whole words
    assert (second["heading"], second["alt_text"], second["caption"]) == ("후원", None, None)
    assert second["license"] == "https://creativecommons.org/publicdomain/zero/1.0/"  # the page's licence link
    assert "스크립트" not in (second["context_text"] or "")


def test_hangul_is_nfc_normalised_everywhere() -> None:
    nfd = unicodedata.normalize("NFD", "한복 사진")
    found = images(f'<h1>{nfd}</h1><figure><img src="a.jpg" alt="{nfd}"><figcaption>{nfd}</figcaption></figure>')
    assert {found[0][k] for k in ("alt_text", "caption", "heading")} == {"한복 사진"}
    assert all(unicodedata.is_normalized("NFC", found[0][k]) for k in ("alt_text", "context_text"))


def test_page_info_title_lang_base_license_and_robots_meta() -> None:
    root = lxml.html.document_fromstring(
        '<html><head><title> 우리  집 </title><base href="http://other.test/x/">'
        '<meta http-equiv="content-language" content="ko-KR"><link rel="alternate license" href="/lic.html">'
        '<meta name="robots" content="index, NoAI"><meta name="KCLI" content="noimageai">'
        '<meta name="otherbot" content="nofollow"></head><body></body></html>'
    )
    info = page_info(root, BASE, "kcli")
    assert (info.title, info.lang, info.base_url) == ("우리 집", "ko-KR", "http://other.test/x/")
    assert info.license == "http://other.test/lic.html"
    assert info.robots == ["index", "noai", "noimageai"]


def test_window_cuts_at_word_boundaries() -> None:
    text = "하나 둘 셋 넷 다섯 여섯"
    assert window(text, text.index("넷"), 3) == "셋 넷"  # "둘" and "다섯" would be cut: left out
    assert window(text, text.index("넷"), 4) == "둘 셋 넷 다섯"
    assert window(text, 0, 0) is None
