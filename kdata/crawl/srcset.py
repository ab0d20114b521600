"""Which URL an ``<img>`` (or ``<picture>``) really shows at its best: srcset, sources, lazy attributes.

``srcset`` lists candidates with a width (``800w``) or a pixel density (``2x``) descriptor (HTML
standard, "parsing a srcset attribute"); ``<picture>`` adds ``<source srcset>`` alternatives; lazy-loading
scripts keep the real URL in ``data-src`` / ``data-srcset`` and friends while ``src`` holds a placeholder.
The largest candidate wins: the greatest width, else the greatest density; a lazy attribute beats a
plain ``src`` (which, next to one, is usually a 1x1 placeholder).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml.html import HtmlElement

SRCSET_ATTRS = ("srcset", "data-srcset", "data-lazy-srcset")
# Attribute names used by common lazy-loading libraries (lazysizes, lozad, jQuery Lazy, WordPress) for
# the real image URL.
LAZY_SRC_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-original-src", "data-lazy",
                  "data-hi-res-src", "data-full-src", "data-url")
SKIPPED_SCHEMES = ("data:", "blob:", "javascript:", "about:")


@dataclass(frozen=True)
class Candidate:
    url: str
    width: int | None = None  # from a ``w`` descriptor
    density: float | None = None  # from an ``x`` descriptor
    found_in: str = "src"  # src | srcset | lazy | picture


def parse_srcset(value: str, found_in: str = "srcset") -> list[Candidate]:
    """The candidates of a ``srcset`` value, per the HTML standard's tokenizer: a URL runs to the next
    whitespace (commas inside it are kept; trailing ones end the candidate), then descriptors run to the
    next comma. Malformed descriptors are ignored, not fatal."""
    candidates = []
    value, pos = value or "", 0
    while pos < len(value):
        while pos < len(value) and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        start = pos
        while pos < len(value) and not value[pos].isspace():
            pos += 1
        url, descriptor = value[start:pos], ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            end = value.find(",", pos)
            end = len(value) if end < 0 else end
            descriptor, pos = value[pos:end], end + 1
        if url:
            width, density = _descriptor(descriptor)
            candidates.append(Candidate(url, width, density, found_in))
    return candidates


def _descriptor(text: str) -> tuple[int | None, float | None]:
    for token in text.split():
        number, unit = token[:-1], token[-1:].lower()
        try:
            if unit == "w":
                return int(number), None
            if unit == "x":
                return None, float(number)
        except ValueError:
            continue
    return None, None


def image_candidates(img: HtmlElement) -> list[Candidate]:
    """Every URL an ``<img>`` offers: its own srcset/lazy/src attributes and its ``<picture>``'s sources."""
    found: list[Candidate] = []
    picture = picture_of(img)
    if picture is not None:
        for source in picture.iter("source"):
            for attr in SRCSET_ATTRS:
                found += parse_srcset(source.get(attr, ""), "picture")
    for attr in SRCSET_ATTRS:
        found += parse_srcset(img.get(attr, ""), "srcset" if attr == "srcset" else "lazy")
    for attr in LAZY_SRC_ATTRS:
        if img.get(attr, "").strip():
            found.append(Candidate(img.get(attr).strip(), found_in="lazy"))
    if img.get("src", "").strip():
        found.append(Candidate(img.get("src").strip(), found_in="src"))
    return [c for c in found if not c.url.lower().startswith(SKIPPED_SCHEMES)]


def picture_of(img: HtmlElement) -> HtmlElement | None:
    """The ``<picture>`` around an ``<img>``. libxml2's HTML parser does not know ``<source>`` is a void
    element and nests the ``<img>`` inside it, so the ``<source>`` levels are skipped on the way up."""
    for ancestor in img.iterancestors():
        if ancestor.tag == "picture":
            return ancestor
        if ancestor.tag != "source":
            return None
    return None


def largest(candidates: list[Candidate]) -> Candidate | None:
    """The largest candidate: greatest width, else greatest density, else the first lazy or src URL."""
    if not candidates:
        return None
    widths = [c for c in candidates if c.width is not None]
    if widths:
        return max(widths, key=lambda c: c.width or 0)  # max keeps the first of equal widths
    densities = [c for c in candidates if c.density is not None]
    plain = [c for c in candidates if c.width is None and c.density is None]
    lazy = [c for c in plain if c.found_in == "lazy"]
    if densities:
        best = max(densities, key=lambda c: c.density or 0.0)
        # A plain URL counts as 1x (HTML standard); a lazy one stands for the real image.
        if (best.density or 0.0) > 1.0 or not (lazy or plain):
            return best
    return (lazy or plain or candidates)[0]
