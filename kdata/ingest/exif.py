"""EXIF as a small JSON object: tag names to plain values, for the ``exif_json`` column.

Only the main IFD and the Exif sub-IFD are kept (camera, exposure, time, orientation); binary blobs
such as MakerNote and embedded thumbnails are dropped because they are large and vendor-specific. GPS
is left out on purpose: a location is personal data and nothing downstream needs it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from PIL import ExifTags, Image

EXIF_IFD = 0x8769
DROPPED_TAGS = {0x927C, 0x8825, 0x8769, 0x9286}  # MakerNote, GPS pointer, Exif pointer, UserComment
MAX_TEXT = 256


def exif_json(exif: Image.Exif) -> str | None:
    """Serialise ``exif`` (from ``Image.getexif()``) to JSON, or None when it holds nothing useful."""
    items: dict[str, Any] = {}
    sources = [dict(exif)]
    with contextlib.suppress(KeyError, ValueError, TypeError, OSError):  # a malformed sub-IFD is skipped
        sources.append(dict(exif.get_ifd(EXIF_IFD)))
    for source in sources:
        for tag, value in source.items():
            if tag in DROPPED_TAGS:
                continue
            plain = _plain(value)
            if plain is not None:
                items[ExifTags.TAGS.get(tag, f"0x{tag:04x}")] = plain
    return json.dumps(items, ensure_ascii=False, sort_keys=True) if items else None


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | str):
        return value.strip("\x00 ")[:MAX_TEXT] if isinstance(value, str) else value
    if isinstance(value, float):
        return round(value, 6) if value == value else None  # NaN (0/0 rationals) is not JSON
    if isinstance(value, bytes):
        return None  # undefined-type blobs: vendor data, not worth a column
    if isinstance(value, tuple | list):
        items = [_plain(v) for v in value[:16]]
        return items if all(i is not None for i in items) else None
    try:
        return _plain(float(value))  # IFDRational and other number-likes
    except (TypeError, ValueError, ZeroDivisionError):
        return None
