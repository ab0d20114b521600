"""Perceptual hash (pHash, 64 bits) and the conversions the near-duplicate index needs.

The hash is the one the ingest stage writes to the ``phash`` column (Zauner 2010; the algorithm of
``imagehash.phash``): grey-scale, 32x32 Lanczos thumbnail, 2-D DCT-II, the 8x8 lowest frequencies
thresholded at their median, as 16 hex digits. The filter fills the column only where a manifest lacks
it, with the same algorithm, so hashes from both stages compare with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image

HASH_SIZE = 8
HIGHFREQ_FACTOR = 4


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    """The unnormalised DCT-II basis (a constant factor from scipy's ``dct``, which a median test ignores)."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * k * (2 * i + 1) / (2 * n))


def phash(image: Image.Image, hash_size: int = HASH_SIZE) -> str:
    """The pHash of ``image`` as hex (16 digits for the default 8x8 hash)."""
    size = hash_size * HIGHFREQ_FACTOR
    grey = image.convert("L").resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    pixels = np.asarray(grey, dtype=np.float64)
    basis = _dct_matrix(size)
    low = (basis @ pixels @ basis.T)[:hash_size, :hash_size]
    bits = (low > np.median(low)).flatten()
    return np.packbits(bits).tobytes().hex()


def hashes_to_uint64(hashes: Sequence[str]) -> np.ndarray:
    """Hex pHashes -> an unsigned 64-bit array (the index works on integers, not strings)."""
    return np.array([int(h, 16) for h in hashes], dtype=np.uint64)


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
