"""Near-duplicate links from perceptual hashes: every row's whole-image pHash plus its crop hashes.

A row contributes several *items* to one multi-index search (:func:`kdata.filter.near_dup.hamming_pairs`):
its ``phash`` (the whole image) and the entries of ``phash_crops`` (content box, centre crops; see
:mod:`kdata.filter.crop_hash`). Two rows are linked when any item of one is within the distance of any
item of the other, and the colour guard agrees on the two *regions that matched*: 4x4 signatures
(``color_sig``) when both items are whole images, the 2x2 region colours otherwise. With ``r`` items per
row the search costs about ``r`` times a whole-image search: still tables x n log n, not n^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kdata.filter.crop_hash import parse_entry
from kdata.filter.near_dup import hamming_pairs

_MIX = np.uint64(0x9E3779B97F4A7C15)  # Knuth's multiplicative constant, to fold a colour code into a hash


@dataclass
class HashItems:
    hashes: np.ndarray  # uint64, one per item
    owners: np.ndarray  # int64: the row each item belongs to
    whole: np.ndarray  # bool: the item is a row's whole-image hash
    region_colour: np.ndarray  # uint8 (items, 12): 2x2 RGB mean of the region the item describes
    colour_code: np.ndarray  # int64: equal codes = equal colour evidence (for the search's identity)


def hash_items(phash: list[str | None], crops: list[str | None], signature: list[str | None]) -> HashItems:
    """Parse the columns into items; rows without a hash contribute nothing."""
    # (hash hex, row, whole image?, 2x2 colour, colour evidence for the identity)
    parsed: list[tuple[str, int, bool, np.ndarray, str]] = []
    for row, (whole_hash, entries, sig) in enumerate(zip(phash, crops, signature)):
        if whole_hash:
            parsed.append((whole_hash, row, True, _halve(sig), sig or ""))
        for entry in entries.split(",") if entries else []:
            hash_hex, colour = parse_entry(entry)
            parsed.append((hash_hex, row, False, _colour_bytes(colour), colour))
    values, owners, whole, colours, codes = zip(*parsed) if parsed else ((), (), (), (), ())
    _, code = np.unique(np.array(codes or [""]), return_inverse=True)
    return HashItems(np.array([int(v, 16) for v in values], dtype=np.uint64), np.array(owners, dtype=np.int64),
                     np.array(whole, dtype=bool), np.array(colours, dtype=np.uint8).reshape(len(values), 12),
                     code.reshape(-1)[: len(values)].astype(np.int64))


def _colour_bytes(colour: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(colour), dtype=np.uint8) if len(colour) == 24 else np.zeros(12, np.uint8)


def _halve(signature: str | None) -> np.ndarray:
    """A 4x4 RGB signature averaged down to 2x2, to compare with a region's colour."""
    if not signature or len(signature) != 96:
        return np.zeros(12, np.uint8)
    grid = np.frombuffer(bytes.fromhex(signature), dtype=np.uint8).reshape(2, 2, 2, 2, 3).astype(np.float32)
    return grid.mean(axis=(1, 3)).round().astype(np.uint8).reshape(12)


def phash_links(items: HashItems, signature: list[str | None], max_distance: int,
                max_colour: float) -> np.ndarray:
    """Sorted unique row pairs (i < j) with a matching pair of items that passes the colour guard."""
    empty = np.empty((0, 2), dtype=np.int64)
    if max_distance < 0 or not len(items.owners) or items.owners.min() == items.owners.max():
        return empty
    guard = max_colour >= 0 and all(signature[i] for i in items.owners[items.whole].tolist())
    # Each (hash, colour) variant must meet the guard itself, not through the first item with its hash:
    # the colour code is folded into the identity (two different pairs collide with probability ~2^-64).
    identity = items.hashes ^ ((items.colour_code.astype(np.uint64) + np.uint64(1)) * _MIX) if guard else None
    found = hamming_pairs(items.hashes, max_distance, identity=identity)
    found = found[items.owners[found[:, 0]] != items.owners[found[:, 1]]]
    if guard and len(found):
        found = found[_colour_distance(items, signature, found) <= max_colour]
    if not len(found):
        return empty
    pairs = np.sort(items.owners[found], axis=1)
    packed = np.unique((pairs[:, 0].astype(np.uint64) << np.uint64(32)) | pairs[:, 1].astype(np.uint64))
    return np.stack([packed >> np.uint64(32), packed & np.uint64(0xFFFFFFFF)], axis=1).astype(np.int64)


def _colour_distance(items: HashItems, signature: list[str | None], found: np.ndarray) -> np.ndarray:
    """Mean absolute colour difference (0-255) of each matched item pair: 4x4 for two whole images."""
    a, b = found[:, 0], found[:, 1]
    distance = np.abs(items.region_colour[a].astype(np.int16) - items.region_colour[b]).mean(axis=1)
    both = np.flatnonzero(items.whole[a] & items.whole[b])
    if not len(both):
        return distance
    rows_a, rows_b = items.owners[a[both]], items.owners[b[both]]
    needed = np.unique(np.concatenate([rows_a, rows_b]))
    parsed = [bytes.fromhex(signature[i] or "") for i in needed.tolist()]
    usable = {len(p) for p in parsed} == {len(parsed[0])} and len(parsed[0]) > 0
    if usable:  # one signature size throughout (4x4 RGB); otherwise the region colours stand
        grid = np.frombuffer(b"".join(parsed), dtype=np.uint8).reshape(len(needed), -1).astype(np.int16)
        distance[both] = np.abs(grid[np.searchsorted(needed, rows_a)] - grid[np.searchsorted(needed, rows_b)]).mean(
            axis=1)
    return distance
