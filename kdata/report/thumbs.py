"""Thumbnails for the report grid: small JPEG files next to the page.

Files rather than data URIs: the page stays small however many rows it shows, the browser loads
thumbnails lazily as they scroll into view, and a re-run skips thumbnails that already exist. At
160 px and quality 80 a thumbnail is a few KB.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from kdata.atomic import atomic_path
from kdata.imageio import MAX_IMAGE_PIXELS

THUMB_DIR = "thumbs"
THUMB_SIZE = 160
QUALITY = 80


def thumb_name(key: str) -> str:
    return f"{THUMB_DIR}/{hashlib.sha1(key.encode()).hexdigest()[:20]}.jpg"


def write_thumbnail(data: bytes | None, root: Path, key: str) -> str | None:
    """Write (or reuse) the thumbnail of one image; None when the bytes do not decode."""
    name = thumb_name(key)
    target = root / name
    if target.exists():
        return name
    if not data:
        return None
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (THUMB_SIZE, THUMB_SIZE))  # JPEG: decode at reduced scale
            thumb = img.convert("RGB")
        thumb.thumbnail((THUMB_SIZE, THUMB_SIZE))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    with atomic_path(target) as tmp:
        thumb.save(tmp, format="JPEG", quality=QUALITY)
    return name
