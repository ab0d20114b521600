"""Fingerprints of model folders and files: what the caches are keyed on and what sidecars report.

A fingerprint is a sha256 over every file's relative path, size and content. Weight files of a real
checkpoint run to gigabytes, and hashing a UNet on every run would cost seconds, so files above
``FULL_HASH_LIMIT`` are hashed from three 4 MiB windows (start, middle, end) plus their size: enough to
tell two trainings or two downloads apart, and said plainly here because it is not a content hash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

FULL_HASH_LIMIT = 64 << 20
WINDOW = 4 << 20
SKIP_NAMES = {".kcli-preset.json"}


def file_digest(path: Path, digest: Any) -> None:
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        if size <= FULL_HASH_LIMIT:
            while block := handle.read(1 << 20):
                digest.update(block)
            return
        for offset in (0, size // 2 - WINDOW // 2, size - WINDOW):
            handle.seek(offset)
            digest.update(handle.read(WINDOW))


def model_fingerprint(*paths: str | os.PathLike[str]) -> str:
    """sha256 over the files under each path (a folder or one file), in sorted order."""
    digest = hashlib.sha256()
    for root in map(Path, paths):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.name in SKIP_NAMES or path.name.startswith("."):
                continue
            digest.update(str(path.relative_to(root) if path != root else path.name).encode())
            file_digest(path, digest)
    return digest.hexdigest()
