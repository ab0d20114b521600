"""Peak memory of ``kcli inspect`` on a generated 1,000,000-row image manifest (target: under 1 GiB).

Run: ``.venv/bin/python bench/inspect_memory.py [--rows 1000000] [--shards 100]``. The manifest is
written to bench/out/ (reused on later runs); ``kcli inspect --json`` then runs as a child process and
its peak RSS is read from the kernel (ru_maxrss of waited-for children).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from kdata.manifest import DESCRIPTOR, Lineage, write_manifest
from kdata.schema import IMAGE, conform_table

OUT = Path(__file__).resolve().parent / "out" / "inspect-1m"
WORDS = ["한복", "한옥", "수묵화", "비빔밥", "hanbok", "hanok", "ink", "painting", "festival", "단청"]


def make_shard(rng: np.random.Generator, start: int, rows: int) -> pa.Table:
    keys = [f"img-{i:08d}" for i in range(start, start + rows)]
    status = rng.choice(["ok", "ok", "ok", "rejected", "failed"], rows)
    reason = np.where(status == "rejected", rng.choice(["blur", "too_small", "duplicate_of=x"], rows),
                      np.where(status == "failed", "http_error:404", None))
    captions = [" ".join(rng.choice(WORDS, 6)) for _ in range(rows)]
    table = pa.table({
        "key": keys,
        "source": ["bench"] * rows,
        "url": [f"https://example.org/{k}.jpg" for k in keys],
        "image_path": [f"{hashlib.sha1(k.encode()).hexdigest()[:2]}/{k}.jpg" for k in keys],
        "sha256": [hashlib.sha256(k.encode()).hexdigest() for k in keys],
        "width": rng.integers(64, 4096, rows).astype(np.int32),
        "height": rng.integers(64, 4096, rows).astype(np.int32),
        "format": rng.choice(["JPEG", "PNG", "WEBP"], rows),
        "status": status,
        "reason": reason,
        "caption_ko": captions,
        "clip_score": rng.random(rows).astype(np.float32),
    })
    return conform_table(table, IMAGE)


def build(rows: int, shards: int) -> Path:
    out = OUT.with_name(f"inspect-{rows}")
    if (out / DESCRIPTOR).exists():
        return out
    rng = np.random.default_rng(0)
    per = rows // shards
    tables = (make_shard(rng, s * per, per) for s in range(shards))
    write_manifest(out, list(tables), IMAGE, Lineage(stage="bench", config={"rows": rows}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    manifest = build(args.rows, args.shards)
    built = time.perf_counter() - started
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kcli", "inspect", str(manifest), "--json"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stderr)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"manifest: {args.rows:,} rows in {args.shards} shards (built in {built:.1f}s)")
    print(f"kcli inspect: {seconds:.1f}s wall, peak RSS {peak_mib:,.0f} MiB "
          f"({'under' if peak_mib < 1024 else 'OVER'} the 1 GiB target)")


if __name__ == "__main__":
    main()
