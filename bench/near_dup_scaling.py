"""Near-duplicate search over synthetic 64-bit perceptual hashes: 100k vs 1M, one run, side by side.

    python bench/near_dup_scaling.py [--k 4]

Each set is uniform random hashes with 5% planted near copies (0 to k bits flipped). The timed work is
what the dedup pass does with a pHash column: the permuted-blocks index (kdata.filter.near_dup), the
popcount check of candidate pairs, and the connected components. All-pairs would be 100x the work for
10x the data; the target is under 15x.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kdata.filter.near_dup import choose_blocks, components, hamming_pairs


def synthetic_hashes(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    planted = n // 20
    sources = rng.integers(0, n, size=planted)
    targets = rng.integers(0, n, size=planted)
    flips = np.zeros(planted, dtype=np.uint64)
    for bit_round in range(k):
        on = rng.random(planted) < 0.5 if bit_round else np.ones(planted, dtype=bool)
        bits = rng.integers(0, 64, size=planted).astype(np.uint64)
        flips ^= np.where(on, np.uint64(1) << bits, np.uint64(0))
    hashes[targets] = hashes[sources] ^ flips
    return hashes


def timed_groups(hashes: np.ndarray, k: int) -> tuple[float, int, int]:
    started = time.perf_counter()
    pairs = hamming_pairs(hashes, k)
    labels = components(len(hashes), pairs)
    seconds = time.perf_counter() - started
    return seconds, len(pairs), int(len(labels) - len(np.unique(labels)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4, help="Hamming distance (default 4, kcli's default)")
    args = parser.parse_args()
    results = {}
    for n in (100_000, 1_000_000):
        hashes = synthetic_hashes(n, args.k, seed=n)
        seconds, pairs, merged = timed_groups(hashes, args.k)
        results[n] = seconds
        print(f"n={n:>9,}  blocks={choose_blocks(n, args.k)}  time={seconds:7.3f} s  pairs={pairs:,}  "
              f"rows in a duplicate group (not representative)={merged:,}")
    ratio = results[1_000_000] / results[100_000]
    print(f"ratio 1M/100k = {ratio:.2f}x for 10x the data (all-pairs: 100x; target < 15x)")


if __name__ == "__main__":
    main()
