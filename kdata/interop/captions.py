"""A source's caption mapped to the manifest's text columns by the script it is written in.

Korean text (mostly Hangul, :func:`kdata.textnorm.detect_language`) becomes ``caption_ko``, English
``caption_en``; a text with no dominant script (mixed, digits only, another language) is kept as
``alt_text``, which the caption stage treats as what a source said about the image. Each caption column
records where it came from (``caption_<lang>_source = "import:<format>"``) as the caption stage does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from kdata.textnorm import detect_language, normalize_text

CAPTION_COLUMNS = ("caption_ko", "caption_en", "alt_text", "caption_ko_source", "caption_en_source")


def caption_values(text: Any, origin: str) -> dict[str, str | None]:
    """The text columns for one caption (all of :data:`CAPTION_COLUMNS`, unused ones ``None``)."""
    values: dict[str, str | None] = dict.fromkeys(CAPTION_COLUMNS)
    clean = normalize_text(text) if isinstance(text, str) else ""
    if not clean:
        return values
    language = detect_language(clean)
    if language in ("ko", "en"):
        values[f"caption_{language}"] = clean
        values[f"caption_{language}_source"] = f"import:{origin}"
    else:
        values["alt_text"] = clean
    return values


def caption_arrays(texts: Sequence[Any], origin: str) -> dict[str, pa.Array]:
    """:func:`caption_values` over a column, as string arrays."""
    rows = [caption_values(t, origin) for t in texts]
    return {name: pa.array([r[name] for r in rows], pa.string()) for name in CAPTION_COLUMNS}
