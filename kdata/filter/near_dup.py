"""Near-duplicate search without comparing all pairs: 64-bit Hamming balls and cosine neighbours.

Hamming distance <= k (pHash) uses the permuted-blocks scheme of Manku, Jain and Das Sarma, *Detecting
near-duplicates for web crawling* (WWW 2007), a form of multi-index hashing: cut the 64 bits into
``m > k`` blocks; two hashes within distance k differ in at most k blocks, so they agree exactly on at
least ``m - k`` of them. For every choice of ``m - k`` blocks, hashes that agree on those blocks fall
into one bucket (found by sorting the masked values), and only pairs inside a bucket are checked with a
popcount. ``m`` is picked per call from a cost model (tables x (n + expected bucket pairs)), so buckets
stay nearly empty as n grows and the work is about tables x n log n instead of n^2.

Cosine neighbours use a blocked matrix product over unit vectors, one block of rows against the rows
after it: exact and memory-bounded, but quadratic, so it is meant for up to a few hundred thousand
embeddings (a faiss index fits behind the same function for more; it is not a dependency here).
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

HASH_BITS = 64
_MAX_BLOCKS = 16


def _block_masks(blocks: int) -> list[int]:
    edges = [round(i * HASH_BITS / blocks) for i in range(blocks + 1)]
    return [((1 << (hi - lo)) - 1) << lo for lo, hi in zip(edges, edges[1:])]


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


def _bucket_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) whose keys are equal, via one sort: equal keys are neighbours in sorted order."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
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
    _, first_index, inverse = np.unique(hashes if identity is None else identity, return_index=True,
                                        return_inverse=True)
    pairs = [equal_pairs(inverse.reshape(-1))]
    firsts = hashes[first_index]
    if (max_distance > 0 or identity is not None) and len(firsts) > 1:
        near = _near_unique_pairs(firsts, max_distance)
        pairs.append(np.stack([first_index[near[:, 0]], first_index[near[:, 1]]], axis=1))
    return _normalise(np.concatenate(pairs))


def equal_pairs(inverse: np.ndarray) -> np.ndarray:
    """Pairs linking every item to the first item with the same code (enough for connected components)."""
    if len(inverse) < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = np.argsort(inverse, kind="stable")
    grouped = inverse[order]
    starts = np.concatenate([[True], grouped[1:] != grouped[:-1]])
    head = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
    keep = ~starts
    return np.stack([head[keep], order[keep]], axis=1).astype(np.int64)


def _near_unique_pairs(unique: np.ndarray, max_distance: int) -> np.ndarray:
    blocks = choose_blocks(len(unique), max_distance)
    masks = _block_masks(blocks)
    found = []
    for chosen in combinations(range(blocks), blocks - max_distance):
        mask = np.uint64(sum(masks[b] for b in chosen))
        first, second = _bucket_pairs(unique & mask)
        if len(first):
            distance = np.bitwise_count(unique[first] ^ unique[second])
            close = distance <= max_distance
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


def cosine_pairs(vectors: np.ndarray, min_cosine: float, block: int = 1024) -> np.ndarray:
    """Index pairs (i < j) of unit ``vectors`` with cosine >= ``min_cosine``, one row block at a time."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    found = []
    for start in range(0, len(vectors), block):
        rows = vectors[start : start + block]
        sims = rows @ vectors[start:].T
        i, j = np.nonzero(sims >= min_cosine)
        upper = j > i
        found.append(np.stack([i[upper] + start, j[upper] + start], axis=1))
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
