"""Perceptual hash (pHash): a 64-bit DCT hash that survives resizing and re-encoding.

The algorithm is the one ``imagehash.phash`` implements (and Zauner, *Implementation and Benchmarking
of Perceptual Image Hash Functions*, 2010, describes): grey-scale, resize to 32x32 with Lanczos, 2-D
DCT-II, keep the 8x8 lowest frequencies, set a bit where a coefficient exceeds their median, write the
bits as 16 hex digits. It is computed here with one 32x32 numpy matrix product instead of importing
``imagehash``, whose dependencies (scipy, PyWavelets) weigh ~100 MB for this one function. For the
same 32x32 input the bits equal ``imagehash``'s (scipy's unnormalised DCT differs from this one by a
constant factor, which a median test ignores). The thumbnail itself is made with Pillow's
``reducing_gap`` (a box pre-reduction, 5x faster here), so a hash may differ from ``imagehash``'s in a
few bits: compare kcli hashes with kcli hashes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

HASH_SIZE = 8
HIGHFREQ_FACTOR = 4


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    """The (unnormalised) DCT-II basis: ``D @ x`` is scipy's ``dct(x, type=2)`` along axis 0, over 2."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * k * (2 * i + 1) / (2 * n))


def phash(image: Image.Image, hash_size: int = HASH_SIZE) -> str:
    """Return the pHash of ``image`` as hex (16 digits for the default 8x8 hash)."""
    size = hash_size * HIGHFREQ_FACTOR
    grey = image.convert("L").resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    # Ingest hashes every image: the pixels come from the raw bytes and the median from a sort, since numpy's
    # general paths (the array interface, median's partition) cost more than the arithmetic. The whole DCT is
    # still computed, so the floating-point sums, hence the bits, are those of earlier versions.
    pixels = np.frombuffer(grey.tobytes(), dtype=np.uint8).reshape(size, size).astype(np.float64)
    basis = _dct_matrix(size)
    low = (basis @ pixels @ basis.T)[:hash_size, :hash_size]
    ordered = np.sort(low, axis=None)
    middle = len(ordered) // 2  # the median of an even count: the mean of the two middle values, as np.median
    median = (ordered[middle - 1] + ordered[middle]) / 2 if len(ordered) % 2 == 0 else ordered[middle]
    return np.packbits(low > median).tobytes().hex()


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes (near duplicates differ in a few of 64)."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")
