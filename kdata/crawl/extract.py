"""Page context for every image on a page: what the page says about it, as its own columns.

Per image: ``alt``, ``title``, the enclosing ``<figure>``'s ``<figcaption>``, the nearest heading before it,
a window of the page text around it, and a licence link. Per page: ``<title>``, ``lang``, the licence
(``rel="license"`` or a Creative Commons link), and ``<meta name="robots">`` directives. These are the
signals alt-text datasets are built from (Conceptual Captions filtered alt text; WIT, Srinivasan et al.
2021, adds the section heading and surrounding text). All text is whitespace-collapsed and NFC-normalised:
Hangul typed on macOS often arrives decomposed (NFD), which would split one word into two spellings.

Works on an lxml tree (scrapy's ``response.selector.root``), walking it once in document order.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from lxml import etree
from lxml.html import HtmlElement

from kdata.crawl.links import absolute
from kdata.crawl.srcset import image_candidates, largest, picture_of

SKIPPED_TAGS = frozenset({"head", "script", "style", "template", "svg", "iframe"})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
CC_LINK = re.compile(r"creativecommons\.org/(licenses|publicdomain)/", re.IGNORECASE)
OG_IMAGE = ("og:image", "og:image:url", "og:image:secure_url")


def clean(text: str | None) -> str | None:
    """Collapse whitespace and NFC-normalise; empty text is None."""
    if text is None:
        return None
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    return text or None


@dataclass
class PageInfo:
    title: str | None = None
    lang: str | None = None
    license: str | None = None
    robots: list[str] = field(default_factory=list)  # <meta name="robots"|token> directives, lower case
    base_url: str = ""


@dataclass
class ImageContext:
    url: str
    found_in: str  # src | srcset | picture | lazy | og:image
    alt_text: str | None = None
    image_title: str | None = None
    caption: str | None = None  # the <figcaption> of the enclosing <figure>
    heading: str | None = None
    context_text: str | None = None
    license: str | None = None
    declared_width: int | None = None  # the chosen srcset candidate's ``w`` descriptor

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def page_info(root: HtmlElement, url: str, token: str, header_lang: str | None = None) -> PageInfo:
    base = root.find(".//base[@href]")
    base_url = absolute(url, base.get("href")) if base is not None else None
    title = root.find(".//title")
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    robots: list[str] = []
    names = {"robots", token.lower()}
    for meta in root.iter("meta"):
        if (meta.get("http-equiv") or "").lower() == "content-language" and not lang:
            lang = meta.get("content")
        if (meta.get("name") or "").strip().lower() in names:
            robots += [d.strip().lower() for d in (meta.get("content") or "").split(",") if d.strip()]
    return PageInfo(
        title=clean(title.text_content()) if title is not None else None,
        lang=clean(lang or header_lang),
        license=license_link(root, base_url or url, page=True),
        robots=robots,
        base_url=base_url or url,
    )


def license_link(scope: HtmlElement, base: str, page: bool = False) -> str | None:
    """A ``rel="license"`` link in ``scope``, else a link to a Creative Commons licence. For the page's own
    licence (``page``), links inside a ``<figure>`` are left out: they license that figure only."""
    links = [el for el in scope.iter("a", "link") if el.get("href")
             and not (page and next(el.iterancestors("figure"), None) is not None)]
    for el in links:
        if "license" in (el.get("rel") or "").lower().split():
            return absolute(base, el.get("href"))
    for el in links:
        if CC_LINK.search(el.get("href")):
            return absolute(base, el.get("href"))
    return None


def page_images(root: HtmlElement, page: PageInfo, context_chars: int = 200) -> list[ImageContext]:
    """Every image on the page with its context, in document order; each URL once (the first wins)."""
    text = _TextStream()
    found: list[tuple[HtmlElement, int, str | None]] = []  # img, text offset, nearest heading
    heading: str | None = None
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, el in walker:
        if not isinstance(el.tag, str):  # comments, processing instructions
            if event == "end":
                text.add(el.tail)
            continue
        if event == "end":
            text.add(el.tail)
            continue
        if el.tag in SKIPPED_TAGS:
            walker.skip_subtree()
            continue
        if el.tag in HEADINGS:
            heading = clean(el.text_content())
        elif el.tag == "img":
            found.append((el, text.length, heading))
        text.add(el.text)
    joined = text.joined()
    images = [_image(el, page, heading_, joined, offset, context_chars) for el, offset, heading_ in found]
    images += _og_images(root, page)
    return _first_per_url([i for i in images if i is not None])


def _image(img: HtmlElement, page: PageInfo, heading: str | None, text: str, offset: int,
           context_chars: int) -> ImageContext | None:
    best = largest(image_candidates(img))
    url = absolute(page.base_url, best.url) if best else None
    if best is None or url is None:
        return None
    figure = next(img.iterancestors("figure"), None)
    picture = picture_of(img)
    caption = figure.find(".//figcaption") if figure is not None else None
    own_license = license_link(figure, page.base_url) if figure is not None else None
    return ImageContext(
        url=url,
        found_in=best.found_in,
        alt_text=clean(img.get("alt")),
        image_title=clean(img.get("title") or (picture.get("title") if picture is not None else None)),
        caption=clean(caption.text_content()) if caption is not None else None,
        heading=heading,
        context_text=window(text, offset, context_chars),
        license=own_license or page.license,
        declared_width=best.width,
    )


def _og_images(root: HtmlElement, page: PageInfo) -> list[ImageContext]:
    """Open Graph images (ogp.me): the picture a page chose to represent itself, with ``og:image:alt``."""
    metas = [m for m in root.iter("meta") if (m.get("property") or m.get("name") or "").lower() in OG_IMAGE]
    alts = [m.get("content") for m in root.iter("meta")
            if (m.get("property") or m.get("name") or "").lower() == "og:image:alt"]
    found = []
    for index, meta in enumerate(metas):
        url = absolute(page.base_url, meta.get("content") or "")
        if url is not None:
            alt = clean(alts[index]) if index < len(alts) else None
            found.append(ImageContext(url=url, found_in="og:image", alt_text=alt, license=page.license))
    return found


def _first_per_url(images: list[ImageContext]) -> list[ImageContext]:
    seen: dict[str, ImageContext] = {}
    for image in images:
        seen.setdefault(image.url, image)
    return list(seen.values())


def window(text: str, offset: int, chars: int) -> str | None:
    """Up to ``chars`` characters of page text on each side of ``offset``, cut at word boundaries."""
    if chars <= 0 or not text:
        return None
    start, end = max(0, offset - chars), min(len(text), offset + chars)
    before, after = text[start:offset], text[offset:end]
    if start > 0 and not text[start - 1].isspace():
        before = before.split(" ", 1)[1] if " " in before else ""  # drop a word cut in half
    if end < len(text) and not text[end].isspace():
        after = after.rsplit(" ", 1)[0] if " " in after else ""
    return clean(f"{before} {after}")


class _TextStream:
    """The page's visible text in document order, with the offset where each image sits."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def add(self, text: str | None) -> None:
        piece = clean(text)
        if piece:
            self.parts.append(piece)
            self.length += len(piece) + 1  # the joining space

    def joined(self) -> str:
        return " ".join(self.parts)
