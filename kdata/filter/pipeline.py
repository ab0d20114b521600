"""Decode, measure and preprocess images on a thread pool while the CLIP model runs on the main thread.

The runner hands the score stage a batch of rows; this module cuts it into model-sized chunks and keeps
``LOOKAHEAD`` chunks in flight on the pool, so the next chunk is decoded and preprocessed while the
current one goes through the model. Pillow's decoders and torch's kernels release the GIL, so threads
are enough (and share the one loaded model). Per-image work never raises: an unreadable image is a
``Prepared`` with an ``error`` that becomes the row's reason.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from kdata.blobs import read_image_bytes, unreadable_reason
from kdata.errors import ManifestError
from kdata.filter.quality import measure_image
from kdata.imageio import ImageDecodeError, decode_rgb
from kdata.ingest.sniff import sniff

LOOKAHEAD = 2  # chunks decoded ahead of the model: one being consumed, one more ready


@dataclass
class Prepared:
    values: dict[str, Any] | None = None  # quality metrics and identity columns
    error: str | None = None
    sha256: str | None = None
    pixels: Any = None  # the CLIP input tensor, only when the embedding is not cached
    data: bytes | None = None  # the encoded bytes, for scorers that read images themselves


def prepare_row(
    row: dict[str, Any],
    blob_dirs: Sequence[Path],
    preprocess: Callable[[Image.Image], Any] | None,
    is_cached: Callable[[str], bool],
    keep_bytes: bool,
    measure: tuple[bool, bool] = (True, True),
) -> Prepared:
    """Read, decode and measure one row's image; preprocess it for CLIP unless its embedding is cached.

    ``measure`` says whether to compute the quality metrics and the identity hashes (see kdata.filter.plan).
    """
    try:
        data = read_image_bytes(row, blob_dirs)
    except (ManifestError, OSError) as exc:
        return Prepared(error=unreadable_reason(exc))
    try:
        image = decode_rgb(data)
    except ImageDecodeError as exc:
        return Prepared(error=str(exc))
    sha = row.get("sha256") or hashlib.sha256(data).hexdigest()
    pixels = preprocess(image) if preprocess is not None and not is_cached(sha) else None
    values = {**measure_image(image, *measure), "file_size": len(data), "format": sniff(data)}
    return Prepared(values, None, sha, pixels, data if keep_bytes else None)


def prefetched(
    pool: ThreadPoolExecutor, rows: Sequence[dict[str, Any]], prepare: Callable[[dict[str, Any]], Prepared],
    chunk: int,
) -> Iterator[list[Prepared]]:
    """Yield prepared chunks in order, keeping ``LOOKAHEAD`` chunks submitted ahead of the consumer."""
    starts = list(range(0, len(rows), chunk))
    pending: deque[list[Future[Prepared]]] = deque()
    for start in starts[:LOOKAHEAD]:
        pending.append([pool.submit(prepare, r) for r in rows[start : start + chunk]])
    following = iter(starts[LOOKAHEAD:])
    while pending:
        futures = pending.popleft()
        start = next(following, None)
        if start is not None:
            pending.append([pool.submit(prepare, r) for r in rows[start : start + chunk]])
        yield [f.result() for f in futures]
