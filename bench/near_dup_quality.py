"""Near-duplicate quality per transform: kcli's filter dedup vs imagededup's PHash (and CNN), same images.

    python bench/near_dup_quality.py --bases 1000 --imagededup-python /path/to/venv/bin/python

Each base picture is generated in code (colour waves, shapes, grain: no flat areas; tests/filter/images.py)
and saved as a JPEG at quality 90, beside one copy per transform: resize to half, re-encode at quality 55
and 92, centred crops of 2/5/10%, a 24 px white frame, a slight white-balance shift, and a chroma swap
("recolour": the same luma in other colours, which kcli's colour guard treats as a different picture on
purpose). 1,000 bases make 10,000 images.

For each method the links it reports are closed into groups (connected components), then per transform:
recall = copies grouped with their own original; precision = copies whose group holds no other base.
Times: hashing + grouping of all images (one process each: imagededup with num_enc_workers=1), and kcli's
grouping alone over synthetic hash arrays for ``--grouping-rows`` rows (1M by default: random 64-bit hashes,
one per row, then five per row as kcli stores them, 5% planted near copies; synthetic, not images). The load average is
printed with every result: compare ratios only from a quiet machine (load < 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdata.filter.config import parse_filter_config  # noqa: E402
from kdata.filter.decide import duplicate_pairs  # noqa: E402
from kdata.filter.near_dup import components  # noqa: E402
from kdata.filter.phash_links import HashItems, phash_links  # noqa: E402
from kdata.filter.quality import measure_image  # noqa: E402
from kdata.imageio import decode_rgb  # noqa: E402
from tests.filter.images import COPIES, encode, photo  # noqa: E402

IMAGEDEDUP_SCRIPT = r"""
import json, sys, time
folder, out = sys.argv[1], sys.argv[2]
from imagededup.methods import PHash, CNN
result = {}
started = time.perf_counter()
method = PHash()
encodings = method.encode_images(image_dir=folder, num_enc_workers=1)
found = method.find_duplicates(encoding_map=encodings, num_dist_workers=1)  # default max_distance_threshold=10
result["phash"] = {"seconds": time.perf_counter() - started, "duplicates": found}
try:
    started = time.perf_counter()
    cnn = CNN()
    found = cnn.find_duplicates(image_dir=folder, num_enc_workers=0)
    result["cnn"] = {"seconds": time.perf_counter() - started, "duplicates": found}
except Exception as exc:  # weights it cannot download here
    result["cnn"] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
json.dump(result, open(out, "w"))
"""


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def make_images(folder: Path, bases: int, size: tuple[int, int]) -> list[tuple[str, int, str]]:
    """Write the originals and their copies; return (file name, base, transform) for each."""
    names = []
    for base in range(bases):
        picture = photo(base, size)
        items = [("original", encode(picture, "JPEG", quality=90))]
        items += [(name, copy(picture)) for name, copy in COPIES.items()]
        for transform, data in items:
            name = f"b{base:05d}_{transform}.jpg"
            (folder / name).write_bytes(data)
            names.append((name, base, transform))
    return names


def kcli_links(folder: Path, names: list[str]) -> tuple[np.ndarray, float, float]:
    """kcli's filter dedup over the files: what the score stage measures, then the global pass's links."""
    started = time.perf_counter()
    rows = []
    for name in names:
        data = (folder / name).read_bytes()
        rows.append({"key": name, **measure_image(decode_rgb(data), metrics=False)})
    hashed = time.perf_counter() - started
    table = pa.Table.from_pylist(rows)
    started = time.perf_counter()
    pairs = duplicate_pairs(table, parse_filter_config({}))
    grouped = time.perf_counter() - started
    return pairs, hashed, grouped


def imagededup_links(python: str, folder: Path, names: list[str]) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        script = Path(scratch) / "run.py"
        script.write_text(IMAGEDEDUP_SCRIPT)
        # TORCH_HOME: the CNN's weight download (which fails offline) writes nowhere outside the scratch folder.
        env = {**os.environ, "PYTHONPATH": "", "TORCH_HOME": scratch}
        subprocess.run([python, str(script), str(folder), str(out)], check=True, env=env)
        raw = json.loads(out.read_text())
    index = {name: i for i, name in enumerate(names)}
    methods = {}
    for method, found in raw.items():
        if "error" in found:
            methods[method] = found
            continue
        pairs = [(index[a], index[b]) for a, dups in found["duplicates"].items() for b in dups]
        methods[method] = {"seconds": found["seconds"], "pairs": np.array(pairs, dtype=np.int64).reshape(-1, 2)}
    return methods


def per_transform(pairs: np.ndarray, items: list[tuple[str, int, str]]) -> dict[str, tuple[float, float]]:
    """(precision, recall) per transform, over the groups the links make."""
    labels = components(len(items), pairs)
    bases = np.array([base for _, base, _ in items])
    bases_in_group: dict[int, set[int]] = {}
    for label, base in zip(labels.tolist(), bases.tolist()):
        bases_in_group.setdefault(label, set()).add(base)
    original = {base: i for i, (_, base, transform) in enumerate(items) if transform == "original"}
    found, clean, total = Counter(), Counter(), Counter()
    for i, (_, base, transform) in enumerate(items):
        if transform == "original":
            continue
        total[transform] += 1
        found[transform] += int(labels[i] == labels[original[base]])
        clean[transform] += int(len(bases_in_group[int(labels[i])]) == 1)
    return {t: (clean[t] / total[t], found[t] / total[t]) for t in total}


def synthetic_items(rows: int, per_row: int = 5, seed: int = 0) -> tuple[HashItems, list[str]]:
    """``per_row`` hashes per row (whole + crops) with 5% planted copies 0-4 bits away, random colours."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64 - 1, size=(rows, per_row), dtype=np.uint64, endpoint=True)
    copies = rng.choice(rows, size=rows // 20, replace=False)
    sources = rng.integers(0, rows, size=len(copies))
    flips = np.zeros(len(copies), dtype=np.uint64)
    for _ in range(4):
        flips ^= np.where(rng.random(len(copies)) < 0.5, np.uint64(1) << rng.integers(0, 64, len(copies)).astype(
            np.uint64), np.uint64(0))
    hashes[copies] = hashes[sources] ^ flips[:, None]
    colour = rng.integers(0, 256, size=(rows, 12), dtype=np.uint8)
    colour[copies] = colour[sources]
    signature = [c.repeat(4).tobytes().hex() for c in colour]  # a 4x4 stand-in made of the 2x2 colours
    owners = np.repeat(np.arange(rows), per_row)
    whole = np.tile(np.arange(per_row) == 0, rows)
    codes = np.unique(colour, axis=0, return_inverse=True)[1].reshape(-1)
    items = HashItems(hashes.reshape(-1), owners, whole, colour[owners], codes[owners].astype(np.int64))
    return items, signature


def grouping_time(rows: int, per_row: int) -> tuple[float, int]:
    items, signature = synthetic_items(rows, per_row)
    started = time.perf_counter()
    pairs = phash_links(items, signature, 4, 6.0)
    components(rows, pairs)
    return time.perf_counter() - started, len(pairs)


def print_table(results: dict[str, dict[str, tuple[float, float]]]) -> None:
    methods = list(results)
    print("| transform | " + " | ".join(f"{m} P / R" for m in methods) + " |")
    print("|---|" + "---|" * len(methods))
    for transform in COPIES:
        cells = [f"{results[m][transform][0]:.2f} / {results[m][transform][1]:.2f}" for m in methods]
        print(f"| {transform} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bases", type=int, default=1000, help="base pictures (x10 images; default 1000)")
    parser.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    parser.add_argument("--imagededup-python", help="python of a venv with imagededup installed (optional)")
    parser.add_argument("--grouping-rows", type=int, default=1_000_000, help="rows of synthetic hashes (0: skip)")
    parser.add_argument("--keep", type=Path, help="write the images here instead of a temporary folder")
    args = parser.parse_args()
    print(f"start: {load()}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        items = make_images(folder, args.bases, tuple(args.size))
        names = [name for name, _, _ in items]
        print(f"{len(items)} images ({args.bases} bases x {len(COPIES) + 1}) at {args.size[0]}x{args.size[1]}")
        pairs, hashed, grouped = kcli_links(folder, names)
        print(f"kcli: hash {hashed:.1f} s + group {grouped:.2f} s for {len(items)} images; {load()}")
        results = {"kcli": per_transform(pairs, items)}
        if args.imagededup_python:
            for method, found in imagededup_links(args.imagededup_python, folder, names).items():
                if "error" in found:
                    print(f"imagededup {method}: not run: {found['error']}")
                    continue
                print(f"imagededup {method}: hash + group {found['seconds']:.1f} s for {len(items)} images; {load()}")
                results[f"imagededup {method}"] = per_transform(found["pairs"], items)
    print_table(results)
    if args.grouping_rows:  # whole-image hash only (what kcli did before crop hashes), then all five
        times = {}
        for per_row in (1, 5):
            times[per_row], links = grouping_time(args.grouping_rows, per_row)
            print(f"kcli grouping, {args.grouping_rows:,} rows x {per_row} synthetic hashes: {times[per_row]:.1f} s "
                  f"({links:,} links); {load()}")
        print(f"five hashes per row cost {times[5] / times[1]:.1f}x one")


if __name__ == "__main__":
    main()
