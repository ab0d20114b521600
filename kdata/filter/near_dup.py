"""Near-duplicate search without comparing all pairs: 64-bit Hamming balls and cosine neighbours.

Hamming distance <= k (pHash) uses the permuted-blocks scheme of Manku, Jain and Das Sarma, *Detecting
near-duplicates for web crawling* (WWW 2007), a form of multi-index hashing: cut the 64 bits into
``m > k`` blocks; two hashes within distance k differ in at most k blocks, so they agree exactly on at
least ``m - k`` of them. For every choice of ``m - k`` blocks, hashes that agree on those blocks fall
into one bucket, and only pairs inside a bucket are checked with a popcount. ``m`` is picked per call
from a cost model (tables x (n + expected bucket pairs)). A bucket is a multiplicative hash of the
chosen blocks, found for all items with one vectorised sort of (bucket, index) words: the work is about
tables x n log n, instead of n^2 for all pairs.

Cosine neighbours use a blocked matrix product over unit vectors, one block of rows against the rows
after it: exact and memory-bounded, but quadratic. From ``index_min_rows`` vectors on, they go through a
faiss inverted-file index (``IndexIVFFlat``, inner product) instead: the vectors are clustered into about
4 sqrt(n) cells, and each one is compared only with the vectors of its ``nprobe`` nearest cells, about
n^1.5 work instead of n^2. Near duplicates sit far closer to each other than to a cell's border, so few
cells suffice; with ``nprobe`` equal to the cell count the result is exactly the blocked product's.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

HASH_BITS = 64
_MAX_BLOCKS = 16
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # Knuth's multiplicative hash: 2^64 / golden ratio, odd


def _block_ranges(blocks: int) -> list[tuple[int, int]]:
    edges = [round(i * HASH_BITS / blocks) for i in range(blocks + 1)]
    return list(zip(edges, edges[1:]))


def choose_blocks(n: int, max_distance: int) -> int:
    """The block count with the least expected work: tables x (n + expected same-bucket pairs)."""
    best, best_cost = max_distance + 1, math.inf
    for blocks in range(max_distance + 1, min(_MAX_BLOCKS, 2 * max_distance + 4) + 1):
        key_bits = HASH_BITS * (blocks - max_distance) / blocks
        tables = math.comb(blocks, max_distance)
        cost = tables * (n + n * n / 2.0 ** (key_bits + 1))
        if cost < best_cost:
            best, best_cost = blocks, cost
    return best


def _index_bits(n: int) -> np.uint64:
    return np.uint64(max(1, (n - 1).bit_length()))


def _bucket_bits(n: int) -> int:
    """Hash buckets for n items: 256 per item, so unrelated items rarely share one; leaves room for the index."""
    return min(HASH_BITS - int(_index_bits(n)), max(1, (n - 1).bit_length()) + 8)


def _bucket_of(values: np.ndarray, bits: int) -> np.ndarray:
    """A bucket per value: the top bits of a multiplicative hash, which spreads any subset of bits evenly."""
    return (values.astype(np.uint64) * _FIBONACCI) >> np.uint64(HASH_BITS - bits)


def _sorted_buckets(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Buckets in sorted order and the item index at each position: one sort of (bucket, index) words,
    which numpy's vectorised sort does several times faster than an argsort."""
    index_bits = _index_bits(len(buckets))
    packed = np.sort((buckets << index_bits) | np.arange(len(buckets), dtype=np.uint64))
    return packed >> index_bits, (packed & ((np.uint64(1) << index_bits) - np.uint64(1))).astype(np.int64)


def _bucket_pairs(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) in the same bucket: equal buckets are neighbours in sorted order."""
    ordered, order = _sorted_buckets(buckets)
    same = ordered[1:] == ordered[:-1]
    in_run = np.zeros(len(ordered), dtype=bool)  # keep only positions in runs of two or more
    in_run[1:] |= same
    in_run[:-1] |= same
    ordered, order = ordered[in_run], order[in_run]
    firsts, seconds = [], []
    offset = 1
    while offset < len(ordered):
        same = ordered[offset:] == ordered[:-offset]
        if not same.any():  # no run is longer than `offset`, so none is longer than any larger offset
            break
        firsts.append(order[:-offset][same])
        seconds.append(order[offset:][same])
        offset += 1
    if not firsts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(firsts), np.concatenate(seconds)


def first_of_equal(values: np.ndarray) -> np.ndarray:
    """For each item, the index of the first item with the same value (itself when it is the first).

    Only items whose hash bucket is shared can have an equal value, so only those are compared exactly.
    """
    values = np.asarray(values).astype(np.uint64)
    first = np.arange(len(values), dtype=np.int64)
    if len(values) < 2:
        return first
    ordered, order = _sorted_buckets(_bucket_of(values, _bucket_bits(len(values))))
    same = ordered[1:] == ordered[:-1]
    crowded = np.zeros(len(values), dtype=bool)
    crowded[order[:-1][same]] = True
    crowded[order[1:][same]] = True
    shared = np.flatnonzero(crowded)
    if len(shared):
        _, first_in_shared, inverse = np.unique(values[shared], return_index=True, return_inverse=True)
        first[shared] = shared[first_in_shared[inverse.reshape(-1)]]
    return first


def equal_pairs(codes: np.ndarray) -> np.ndarray:
    """Pairs linking every item to the first item with the same code (enough for connected components)."""
    first = first_of_equal(codes)
    copies = np.flatnonzero(first != np.arange(len(first)))
    return np.stack([first[copies], copies], axis=1).astype(np.int64)


def hamming_pairs(hashes: np.ndarray, max_distance: int, identity: np.ndarray | None = None) -> np.ndarray:
    """Index pairs (i < j) that connect every two ``hashes`` (uint64) within ``max_distance`` bits.

    Items with the same ``identity`` (default: the hash value) are linked to the first of them, and near
    pairs are listed between those first items, which is enough for connected components without
    listing the n^2 pairs of a large group of copies. Pass an identity finer than the hash (hash plus a
    colour signature, say) when pairs are filtered afterwards, so the filter sees each variant.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    if len(hashes) < 2 or max_distance < 0:
        return np.empty((0, 2), dtype=np.int64)
    codes = hashes if identity is None else np.asarray(identity)
    pairs = [equal_pairs(codes)]
    firsts = np.flatnonzero(first_of_equal(codes) == np.arange(len(codes)))
    if (max_distance > 0 or identity is not None) and len(firsts) > 1:
        near = _near_unique_pairs(hashes[firsts], max_distance)
        pairs.append(np.stack([firsts[near[:, 0]], firsts[near[:, 1]]], axis=1))
    return _normalise(np.concatenate(pairs))


def _near_unique_pairs(unique: np.ndarray, max_distance: int) -> np.ndarray:
    blocks = choose_blocks(len(unique), max_distance)
    ranges = _block_ranges(blocks)
    bits = _bucket_bits(len(unique))  # hash collisions only add candidates, which the popcount drops
    found = []
    for chosen in combinations(range(blocks), blocks - max_distance):
        mask = np.uint64(sum(((1 << (hi - lo)) - 1) << lo for lo, hi in (ranges[b] for b in chosen)))
        # A bucket is a hash of the chosen blocks: pairs that agree on them always share it; pairs that
        # only collide in the hash are dropped by the popcount check below.
        first, second = _bucket_pairs(_bucket_of(unique & mask, bits))
        if len(first):
            close = np.bitwise_count(unique[first] ^ unique[second]) <= max_distance
            found.append(np.stack([first[close], second[close]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return _normalise(np.concatenate(found))


def _normalise(pairs: np.ndarray) -> np.ndarray:
    """Sorted unique (i < j) rows."""
    if not len(pairs):
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.sort(pairs.astype(np.int64), axis=1)
    return np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)


def cosine_pairs(vectors: np.ndarray, min_cosine: float, block: int = 1024, index_min_rows: int = 0,
                 nprobe: int = 16) -> np.ndarray:
    """Index pairs (i < j) of unit ``vectors`` with cosine >= ``min_cosine``.

    Below ``index_min_rows`` (or when it is 0) one row block at a time, exactly; from it on, a faiss
    inverted-file index searched in ``nprobe`` cells per vector (see the module docstring).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if index_min_rows and len(vectors) >= index_min_rows:
        return _faiss_pairs(vectors, min_cosine, block, nprobe)
    found = []
    for start in range(0, len(vectors), block):
        rows = vectors[start : start + block]
        sims = rows @ vectors[start:].T
        i, j = np.nonzero(sims >= min_cosine)
        upper = j > i
        found.append(np.stack([i[upper] + start, j[upper] + start], axis=1))
    return _normalise(np.concatenate(found)) if found else np.empty((0, 2), dtype=np.int64)


def cell_count(n: int) -> int:
    """Inverted-file cells for n vectors: about 4 sqrt(n) (faiss's guideline), and 39+ training points each."""
    return max(1, min(int(4 * math.sqrt(n)), n // 39))


def _faiss_pairs(vectors: np.ndarray, min_cosine: float, block: int, nprobe: int) -> np.ndarray:
    from kdata.deps import require

    faiss = require("faiss", "faiss-cpu")
    n, dim = vectors.shape
    cells = cell_count(n)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, cells, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    index.nprobe = min(nprobe, cells)
    found = []
    # faiss keeps inner products strictly above the radius; the >= test below is the blocked product's.
    radius = float(np.nextafter(np.float32(min_cosine), np.float32(-np.inf)))
    for start in range(0, n, block):
        limits, sims, ids = index.range_search(vectors[start : start + block], radius)
        rows = np.repeat(np.arange(start, start + len(limits) - 1), np.diff(limits).astype(np.int64))
        keep = (ids > rows) & (sims >= min_cosine)
        found.append(np.stack([rows[keep], ids[keep]], axis=1))
    return _normalise(np.concatenate(found)) if found else np.empty((0, 2), dtype=np.int64)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component labels (the smallest member index) for ``n`` nodes joined by ``pairs``."""
    parent = np.arange(n)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    labels = parent
    while True:  # pointer jumping: every node ends pointing at its root
        jumped = labels[labels]
        if np.array_equal(jumped, labels):
            return labels
        labels = jumped
