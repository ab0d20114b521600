"""pHash for the filter: the ingest stage's algorithm, plus the conversions the near-duplicate index needs.

The filter fills the ``phash`` column only where a manifest lacks it, with the very function ingest uses
(:func:`kdata.ingest.phash.phash`), so hashes from both stages compare with each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kdata.ingest.phash import hamming, phash

__all__ = ["hamming", "hashes_to_uint64", "phash"]


def hashes_to_uint64(hashes: Sequence[str]) -> np.ndarray:
    """Hex pHashes -> an unsigned 64-bit array (the index works on integers, not strings)."""
    return np.array([int(h, 16) for h in hashes], dtype=np.uint64)
