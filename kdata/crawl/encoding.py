"""Which text encoding a page is in, with care for Korean sites that still serve EUC-KR / CP949.

The order follows the HTML standard's encoding sniffing: a byte-order mark, then the ``Content-Type``
charset, then a ``<meta charset>`` in the first bytes (w3lib, which scrapy itself uses, reads all three).
Two Korean-specific fixes on top:

- Every label the WHATWG Encoding Standard maps to "EUC-KR" means Windows code page 949 (Unified Hangul
  Code), a superset of KS X 1001: decoding it as strict EUC-KR fails on syllables outside the 2,350
  KS X 1001 ones (똠, 햏, 쏭 ...). w3lib maps the common labels to cp949; the labels Python does not know
  at all (``windows-949``, ``csksc56011987`` ...) are registered as a codec alias of cp949 here.
- A page that declares nothing and is not valid UTF-8 goes to scrapy's statistical guess, which is
  unreliable on short Korean pages. CP949 is tried first and kept when it decodes strictly and most of
  the non-ASCII text it yields is Hangul (a Latin-1 page decoded as CP949 yields mostly Hanja and
  symbols instead).
"""

from __future__ import annotations

import codecs

from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom, resolve_encoding

from kdata.textnorm import count_hangul

# WHATWG Encoding Standard "EUC-KR" labels that Python's codec registry does not know, normalised the way
# the registry hands names to search functions.
UNKNOWN_EUC_KR_LABELS = frozenset({"windows_949", "x_windows_949", "csksc56011987", "iso_ir_149"})
HANGUL_SHARE = 0.6  # of non-ASCII characters, for an undeclared page to count as CP949


def _euc_kr_labels(name: str) -> codecs.CodecInfo | None:
    return codecs.lookup("cp949") if name.replace("-", "_") in UNKNOWN_EUC_KR_LABELS else None


codecs.register(_euc_kr_labels)


def declared_encoding(content_type: str | None, body: bytes) -> str | None:
    """The encoding a page declares (BOM, header, ``<meta>``), as a Python codec name."""
    bom = read_bom(body)[0]
    label = bom or http_content_type_encoding(content_type or "") or html_body_declared_encoding(body)
    if not label:
        return None
    resolved = resolve_encoding(label)
    return "cp949" if resolved in ("euc_kr", "euc-kr") else resolved


def undeclared_encoding(body: bytes) -> str | None:
    """UTF-8 or CP949 for an undeclared page, when the bytes say so; None leaves it to scrapy's guess."""
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = body.decode("cp949")
    except UnicodeDecodeError:
        return None
    return "cp949" if hangul_share(text) >= HANGUL_SHARE else None


def hangul_share(text: str) -> float:
    """Share of Hangul (syllables and jamo) among a text's non-ASCII characters."""
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return 0.0
    return count_hangul(text) / len(non_ascii)  # Hangul is all non-ASCII


def page_encoding(content_type: str | None, body: bytes, scrapy_guess: str) -> tuple[str, str]:
    """``(encoding, how)`` where ``how`` is ``declared``, ``sniffed`` or ``guessed`` (scrapy's guess)."""
    declared = declared_encoding(content_type, body)
    if declared:
        return declared, "declared"
    sniffed = undeclared_encoding(body)
    if sniffed:
        return sniffed, "sniffed"
    return scrapy_guess, "guessed"
