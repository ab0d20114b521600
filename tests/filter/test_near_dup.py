"""The near-duplicate index finds exactly the groups brute force finds, without comparing all pairs."""

from __future__ import annotations

import numpy as np
import pytest

from kdata.filter.near_dup import choose_blocks, components, cosine_pairs, equal_pairs, hamming_pairs


def _planted(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    for _ in range(n // 8):  # copies of random hashes with 0-7 bits flipped
        value = hashes[rng.integers(0, n)]
        for bit in rng.choice(64, size=int(rng.integers(0, 8)), replace=False):
            value ^= np.uint64(1) << np.uint64(int(bit))
        hashes[rng.integers(0, n)] = value
    return hashes


def _brute_force_labels(hashes: np.ndarray, k: int) -> np.ndarray:
    distance = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    i, j = np.nonzero(np.triu(distance <= k, 1))
    return components(len(hashes), np.stack([i, j], axis=1))


@pytest.mark.parametrize("k", [0, 1, 3, 4, 6, 8])
def test_hamming_groups_equal_brute_force(k: int) -> None:
    hashes = _planted(1500, seed=k)
    got = components(len(hashes), hamming_pairs(hashes, k))
    expected = _brute_force_labels(hashes, k)
    assert np.array_equal(got, expected)
    assert len(set(expected.tolist())) < len(hashes)  # the planted copies did form groups


def test_every_listed_pair_is_within_the_distance() -> None:
    hashes = _planted(800, seed=9)
    pairs = hamming_pairs(hashes, 4)
    assert len(pairs) and (np.bitwise_count(hashes[pairs[:, 0]] ^ hashes[pairs[:, 1]]) <= 4).all()
    assert (pairs[:, 0] < pairs[:, 1]).all()


def test_block_count_grows_with_n_so_buckets_stay_small() -> None:
    assert choose_blocks(1_000, 4) <= choose_blocks(1_000_000, 4) <= choose_blocks(100_000_000, 4)
    assert choose_blocks(1_000_000, 4) > 4


def test_cosine_pairs_equal_brute_force_across_blocks() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors[150] = vectors[3] + 0.01
    vectors[299] = vectors[3] - 0.01
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = cosine_pairs(vectors, 0.99, block=64)
    sims = vectors @ vectors.T
    i, j = np.nonzero(np.triu(sims >= 0.99, 1))
    assert pairs.tolist() == np.stack([i, j], axis=1).tolist() == [[3, 150], [3, 299], [150, 299]]


def test_equal_pairs_link_each_copy_to_the_first() -> None:
    assert sorted(equal_pairs(np.array([5, 1, 5, 5, 2, 1])).tolist()) == [[0, 2], [0, 3], [1, 5]]
    assert equal_pairs(np.array([7])).tolist() == []
