"""Thumbnails for the report grid: small JPEG files next to the page.

Files rather than data URIs: the page stays small however many rows it shows, the browser loads
thumbnails lazily as they scroll into view, and a re-run skips thumbnails that already exist. At
160 px and quality 80 a thumbnail is a few KB.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from PIL import Image

from kdata.imageio import MAX_IMAGE_PIXELS

THUMB_DIR = "thumbs"
THUMB_SIZE = 160
LARGE_DIR = "large"  # what a click on a thumbnail enlarges to
LARGE_SIZE = 640
QUALITY = 80


def thumb_name(key: str, folder: str = THUMB_DIR) -> str:
    return f"{folder}/{hashlib.sha1(key.encode()).hexdigest()[:20]}.jpg"


def write_thumbnail(data: bytes | None, root: Path, key: str, size: int = THUMB_SIZE,
                    folder: str = THUMB_DIR) -> str | None:
    """Write (or reuse) the thumbnail of one image; None when the bytes do not decode."""
    name = thumb_name(key, folder)
    target = root / name
    if target.exists():
        return name
    if not data:
        return None
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (size, size))  # JPEG: decode at reduced scale
            thumb = img.convert("RGB")
        thumb.thumbnail((size, size))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    # Temp-then-rename so a killed run never leaves half a thumbnail to reuse; no fsync: a thumbnail is a
    # cache the next run can redraw, and syncing hundreds of tiny files costs more than drawing them.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    thumb.save(tmp, format="JPEG", quality=QUALITY)
    os.replace(tmp, target)
    return name
