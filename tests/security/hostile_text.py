"""Hostile text for the escaping tests, and the checks that rendered Markdown and HTML stay inert.

The Markdown checks render with markdown-it in CommonMark mode with raw HTML on and every link accepted:
the most permissive renderer, so whatever the text asks for (a tag, a link, a heading) shows up.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa

from kdata.manifest import Lineage, Manifest, write_manifest
from kdata.schema import IMAGE, Status, conform_table
from tests.publish.manifests import filtered_rows

SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
IMG = "<img src=x onerror=\"window.__pwned = 2; alert(2)\">"
JS_LINK = "[click](javascript:alert(3)) <javascript:alert(4)> ![i](javascript:alert(5))"
HEADING = "first line\n# Injected heading\n\n## Injected too\n"
YAML_BREAK = "x\n---\nlicense: mit\nextra_key: injected\n---\n"
ATTR = "\" onmouseover=\"alert(6)\" x=\""
CAPTION_KO = f"{SCRIPT} {IMG} 한옥"
CAPTION_EN = f"{JS_LINK} {HEADING}"
SOURCE = f"{ATTR}{YAML_BREAK}"
LICENSE = f"evil\n\n# Licence heading\n{SCRIPT}\n{JS_LINK}"
HOSTILE_KEY = f"food-16{ATTR}{SCRIPT}"
REASON = f"blurry\n# Reason heading {SCRIPT}"
STAGE = f"filter\n# Stage heading {SCRIPT}"
MODEL = f"{SCRIPT}\n# Model heading {JS_LINK}"


def write_hostile_manifest(root: Path) -> Manifest:
    """The publish fixture's rows with hostile captions, sources, licences, one key, one reason and lineage."""
    rows = filtered_rows()
    for row in rows:
        if row["status"] == Status.OK:
            row.update(caption_ko=CAPTION_KO, caption_en=CAPTION_EN, source=SOURCE, license=LICENSE,
                       alt_text=IMG, title=HEADING)
        elif row["status"] == Status.REJECTED:
            row["reason"] = REASON
    first_ok = next(row for row in rows if row["status"] == Status.OK)
    first_ok["key"] = HOSTILE_KEY
    table = conform_table(pa.Table.from_pylist(rows), IMAGE)
    lineage = Lineage(stage=STAGE, config={"clip_model": MODEL, "captioner": "tiny-captioner"})
    return write_manifest(root / "hostile", [table], IMAGE, lineage)


class TagCollector(HTMLParser):
    """Every start tag with its attributes, and the text of each heading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)


def parse_html(text: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(text)
    collector.close()
    return collector


def render_markdown(text: str) -> str:
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": True}).enable("table")
    renderer.validateLink = lambda url: True  # show every link the text makes, whatever its scheme
    return renderer.render(text)


def safe_target(url: str) -> bool:
    """An href/src a page may carry: http(s) with a host, or a relative path with no scheme."""
    parts = urlsplit(url)
    return (parts.scheme in ("http", "https") and bool(parts.hostname)) or (not parts.scheme and ":" not in url)


def assert_inert_html(text: str, allowed_scripts: int = 0) -> TagCollector:
    """No script beyond the page's own, no event-handler attribute, no unsafe link target."""
    page = parse_html(text)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == allowed_scripts, scripts
    for tag, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src"):
            if attrs.get(name):
                assert safe_target(attrs[name] or ""), (tag, attrs)
    return page
