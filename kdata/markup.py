"""Text from data made inert in the Markdown and HTML that kcli writes (dataset card, reports, pages).

Captions, sources, licences, reasons, lineage entries and prompt files are untrusted: a licence value can
hold newlines and a ``# heading``, a caption ``<script>`` or a ``[link](javascript:...)``. The rule:

- Markdown: every value goes through :func:`md_text`, which puts it on one line (so it can neither end a
  table row nor start a heading, list or front-matter fence), turns ``& < >`` into entities (no raw HTML,
  no autolinks) and backslash-escapes the characters that make links, emphasis, code and table cells
  (CommonMark 0.31 §2.4 "Backslash escapes"; GFM tables for ``|``). A value is shown as code
  (:func:`md_code`) only when it holds nothing that could end the code span.
- Links and images, in Markdown and in HTML ``href``/``src``: only ``http(s)`` URLs with a host or plain
  relative paths below the page (:func:`safe_url`); ``javascript:``, ``data:``, ``file:`` and anything unparseable are
  dropped and the label is shown as text.
- HTML is written with Jinja autoescaping or :func:`html.escape` (quotes included) on every value.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit

# C0 and C1 control characters (newlines and tabs included), NEL and the Unicode line/paragraph
# separators: anything a renderer or an editor may treat as a line break becomes one space.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Characters that open links (``[ ]``), emphasis and strikethrough (``* ~``), code spans (`````), math on
# GitHub and the Hub (``$``), table cells (``|``), and the escape character itself.
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~$])")
# ``_`` emphasises only at a word edge (CommonMark's flanking rules), so ``clip_model`` stays readable.
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_CODE_SAFE = re.compile(r"[\w.:/@+=-]+")
_URL_SCHEMES = ("http", "https")
# Kept as they are in a URL; everything else (spaces, quotes, parentheses, brackets, non-ASCII) is
# percent-encoded, so a URL can end neither a Markdown link nor an HTML attribute.
_URL_SAFE = "/:?#@!$&*+,;=%-._~"


def one_line(value: Any) -> str:
    """``value`` as text on one line: every run of control characters and line breaks becomes a space."""
    text = "" if value is None else str(value)
    return _BREAKS.sub(" ", text).strip()


def md_text(value: Any) -> str:
    """``value`` as inert Markdown text on one line, safe in a paragraph, a heading or a table cell."""
    text = _MD_SPECIAL.sub(r"\\\1", one_line(value))
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    return html.escape(text, quote=False)


def md_code(value: Any) -> str:
    """``value`` as inline code when it is a plain token (an id, a hash, a model name), else as :func:`md_text`."""
    text = one_line(value)
    return f"`{text}`" if _CODE_SAFE.fullmatch(text) else md_text(text)


def safe_url(value: Any) -> str | None:
    """``value`` when it is an ``http(s)`` URL with a host or a relative path below the page, percent-encoded.

    None for anything else: other schemes (``javascript:``, ``data:``, ``file:``), control characters,
    spaces or backslashes (which browsers and parsers read differently), absolute paths and ``..``.
    """
    text = "" if value is None else str(value)
    if not text or text != one_line(text) or " " in text or "\\" in text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme:
        if parts.scheme.lower() not in _URL_SCHEMES or not parts.hostname:
            return None
    elif text.startswith(("/", "//")) or ":" in text.split("/", 1)[0] or ".." in unquote(parts.path).split("/"):
        return None  # another host or the site root, a first segment read as a scheme, or a way up and out
    return quote(text, safe=_URL_SAFE)


def md_link(label: Any, url: Any) -> str:
    """A Markdown link when ``url`` is safe; otherwise the label alone, as text."""
    target = safe_url(url)
    return f"[{md_text(label)}]({target})" if target else md_text(label)


def md_image(alt: Any, url: Any) -> str:
    """A Markdown image when ``url`` is safe; otherwise the alt text alone."""
    target = safe_url(url)
    return f"![{md_text(alt)}]({target})" if target else md_text(alt)


def html_url(value: Any) -> str:
    """A URL for an HTML ``href``/``src`` attribute: :func:`safe_url`, escaped; empty when it is not safe."""
    return html.escape(safe_url(value) or "")
