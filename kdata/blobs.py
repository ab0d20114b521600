"""Where image bytes live, and one way to read them whichever place that is.

A row holds its bytes inline (``image_bytes``) or names a content-addressed blob (``image_path`` =
``<sha256[:2]>/<sha256><ext>``) stored under one of the manifest's blob dirs. Content addressing means
the same image stored twice takes the space once, and a child manifest can point at its parent's blobs
without copying them (the descriptor lists every blob dir a manifest can read from).

Every path here comes from a manifest, so it is untrusted: a manifest is a file anyone can edit or send.
The containment rule (applied by :func:`classify_blob_dirs` and :func:`locate_blob`):

- an ``image_path`` is relative, has no ``..`` part, and resolves (symlinks followed) inside the blob
  store it is found in;
- a blob store may be read when it lies inside the manifest's own folder, when the user named it on the
  command line (``open_manifest(path, blob_dirs=...)``), or when kcli created it (it holds
  :data:`STORE_MARKER`). Any other blob dir a descriptor lists is a :class:`RefusedBlobDir`: never read.

A row that breaks the rule raises :class:`~kdata.errors.PathOutsideManifestError`; stages turn that into
a ``failed`` row with the reason ``path_outside_manifest``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kdata.atomic import atomic_path
from kdata.errors import ManifestError, PathOutsideManifestError

FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}
# Written by BlobStore into every store it fills. A child manifest lists its parent's store (``../raw/blobs``),
# which lies outside the child's folder; the marker is what lets the chain ingest -> filter -> publish read
# it without a flag. That is safe because a store with the marker was made by kcli and holds only images
# kcli itself stored under their content hash, and image paths still may not leave the store. What the
# marker cannot tell is whose images they are: a manifest can point at any kcli store on this machine.
STORE_MARKER = ".kcli-blob-store"
MISSING_BYTES = "missing_bytes"


def blob_relpath(sha256: str, image_format: str | None) -> str:
    ext = FORMAT_EXTENSIONS.get((image_format or "").upper(), ".bin")
    return f"{sha256[:2]}/{sha256}{ext}"


class BlobStore:
    """A content-addressed directory of image files, marked as kcli's own (see :data:`STORE_MARKER`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._marked = False
        self._lock = threading.Lock()  # stages call put from thread pools

    def put(self, data: bytes, image_format: str | None, sha256: str | None = None) -> str:
        """Store ``data`` once and return its path relative to the store root."""
        self._mark()
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        rel = blob_relpath(sha256, image_format)
        target = self.root / rel
        if not target.exists():
            try:
                with atomic_path(target) as tmp:
                    tmp.write_bytes(data)
            except OSError:
                # Another thread or process stored the same content first, and this rename was refused
                # (as Windows refuses to replace a file that is open): the blob is there, which is success.
                if not target.is_file():
                    raise
        return rel

    def _mark(self) -> None:
        """Write the marker before the first blob (and into a store an older kcli filled), once per instance."""
        if self._marked:
            return
        with self._lock:
            if self._marked:
                return
            marker = self.root / STORE_MARKER
            if not marker.is_file():
                with atomic_path(marker) as tmp:
                    tmp.write_text(json.dumps({"kcli_blob_store": 1}) + "\n", encoding="utf-8")
            self._marked = True


def is_blob_store(path: Path) -> bool:
    """Whether kcli created the store at ``path`` (it holds the marker)."""
    return (path / STORE_MARKER).is_file()


@dataclass(frozen=True)
class RefusedBlobDir:
    """A blob dir a descriptor lists but kcli may not read: outside the manifest, unmarked, not named.

    It stays in the list (a child manifest still records it, so naming it later works) but has no
    ``__fspath__``: code that treats it as a folder fails instead of reading from it. A row whose blob only
    such a dir could hold fails with ``path_outside_manifest`` rather than ``missing_bytes``.
    """

    path: Path

    def __str__(self) -> str:
        return str(self.path)


BlobDir = Path | RefusedBlobDir


def classify_blob_dirs(listed: Sequence[str], manifest_root: Path, named: Sequence[Path] = ()) -> list[BlobDir]:
    """The descriptor's ``blob_dirs`` (relative to ``manifest_root``) as readable paths or refused ones,
    followed by the folders the user ``named`` that the descriptor does not list."""
    root = _real(manifest_root)
    named_real = [_real(path) for path in named]
    dirs: list[BlobDir] = []
    for entry in listed:
        real = _real(manifest_root / entry)
        allowed = _inside(real, root) or any(_inside(real, n) for n in named_real) or is_blob_store(real)
        dirs.append(real if allowed else RefusedBlobDir(real))
    dirs += [path for path in named_real if path not in dirs]
    return dirs


def read_image_bytes(row: Mapping[str, Any], blob_dirs: Sequence[BlobDir]) -> bytes:
    """Return a row's image bytes, inline or from the first blob dir that holds its ``image_path``.

    Plain paths in ``blob_dirs`` are read (the caller vouches for them, as :class:`~kdata.manifest.Manifest`
    does after :func:`classify_blob_dirs`); :class:`RefusedBlobDir` entries never are.
    """
    inline = row.get("image_bytes")
    if inline is not None:
        return bytes(inline)
    return locate_blob(row, blob_dirs).read_bytes()


def locate_blob(row: Mapping[str, Any], blob_dirs: Sequence[BlobDir]) -> Path:
    """The file that holds a row's ``image_path`` blob, after the containment rule (module docstring)."""
    key, rel = row.get("key"), row.get("image_path")
    if not rel:
        raise ManifestError(f"row {key!r} has neither image_bytes nor image_path")
    parts = _relative_parts(key, rel)
    refused: list[RefusedBlobDir] = []
    for entry in blob_dirs:
        if isinstance(entry, RefusedBlobDir):
            refused.append(entry)
            continue
        root = _real(Path(entry))
        candidate = _real(root.joinpath(*parts))
        if not _inside(candidate, root):  # a symlink in the store that leads out of it
            raise PathOutsideManifestError(f"row {key!r}: image_path {rel!r} leads outside the blob store {root}")
        if candidate.is_file():
            return candidate
    if refused:
        raise PathOutsideManifestError(
            f"row {key!r}: blob {rel} is in no blob store kcli may read; {refused[0]} is outside the manifest "
            "(name it with --blob-dir to read it)"
        )
    raise ManifestError(f"row {key!r}: blob {rel} is in none of {[str(d) for d in blob_dirs]}")


def blob_size(row: Mapping[str, Any], blob_dirs: Sequence[BlobDir]) -> int:
    """The stored size of a row's blob, or 0 when it has none kcli may read."""
    try:
        return locate_blob(row, blob_dirs).stat().st_size
    except (ManifestError, OSError):
        return 0


def unreadable_reason(exc: BaseException) -> str:
    """The row reason for an image that could not be read: ``path_outside_manifest`` or ``missing_bytes``."""
    return exc.reason if isinstance(exc, PathOutsideManifestError) else MISSING_BYTES


def _relative_parts(key: Any, rel: Any) -> tuple[str, ...]:
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise PathOutsideManifestError(f"row {key!r}: image_path {str(rel)[:80]!r} is not a relative file path")
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise PathOutsideManifestError(f"row {key!r}: image_path {rel[:200]!r} must be relative and without '..'")
    return path.parts


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
