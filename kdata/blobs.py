"""Where image bytes live, and one way to read them whichever place that is.

A row holds its bytes inline (``image_bytes``) or names a content-addressed blob (``image_path`` =
``<sha256[:2]>/<sha256><ext>``) stored under one of the manifest's blob dirs. Content addressing means
the same image stored twice takes the space once, and a child manifest can point at its parent's blobs
without copying them (the descriptor lists every blob dir a manifest can read from).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kdata.atomic import atomic_path
from kdata.errors import ManifestError

FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


def blob_relpath(sha256: str, image_format: str | None) -> str:
    ext = FORMAT_EXTENSIONS.get((image_format or "").upper(), ".bin")
    return f"{sha256[:2]}/{sha256}{ext}"


class BlobStore:
    """A content-addressed directory of image files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes, image_format: str | None, sha256: str | None = None) -> str:
        """Store ``data`` once and return its path relative to the store root."""
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        rel = blob_relpath(sha256, image_format)
        target = self.root / rel
        if not target.exists():
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
        return rel


def read_image_bytes(row: Mapping[str, Any], blob_dirs: Sequence[Path]) -> bytes:
    """Return a row's image bytes, inline or from the first blob dir that holds its ``image_path``."""
    inline = row.get("image_bytes")
    if inline is not None:
        return bytes(inline)
    rel = row.get("image_path")
    if not rel:
        raise ManifestError(f"row {row.get('key')!r} has neither image_bytes nor image_path")
    if os.path.isabs(rel):
        return Path(rel).read_bytes()
    for root in blob_dirs:
        candidate = Path(root) / rel
        if candidate.exists():
            return candidate.read_bytes()
    raise ManifestError(f"row {row.get('key')!r}: blob {rel} is in none of {[str(d) for d in blob_dirs]}")
