"""The generated image manifest bench/inspect_speed.py and bench/inspect_memory.py measure ``kcli inspect`` on.

Built once per size and kept (``KCLI_BENCH_DIR``, default the system temp folder): later runs reuse it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from kdata.manifest import DESCRIPTOR, Lineage, write_manifest
from kdata.schema import IMAGE, conform_table

WORDS = ["한복", "한옥", "수묵화", "비빔밥", "hanbok", "hanok", "ink", "painting", "festival", "단청"]
CATEGORIES = ["hanbok", "hanok", "food", "ink_painting", "festival", "palace"]


def bench_dir() -> Path:
    return Path(os.environ.get("KCLI_BENCH_DIR", Path(tempfile.gettempdir()) / "kcli-bench"))


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
        "category": rng.choice(CATEGORIES, rows),
        "caption_ko": captions,
        "clip_score": rng.random(rows).astype(np.float32),
    })
    return conform_table(table, IMAGE)


def build(rows: int, shards: int) -> Path:
    """The manifest of ``rows`` rows in ``shards`` shards, written on first use (seeded: same data every time)."""
    out = bench_dir() / f"inspect-{rows}-{shards}"
    if (out / DESCRIPTOR).exists():
        return out
    rng = np.random.default_rng(0)
    per = rows // shards
    tables = [make_shard(rng, s * per, per) for s in range(shards)]
    write_manifest(out, tables, IMAGE, Lineage(stage="bench", config={"rows": rows, "shards": shards}))
    return out


def build_in_child(rows: int, shards: int) -> Path:
    """:func:`build` in a child process, so that the caller's peak RSS stays small: a child it starts later
    inherits that peak as the floor of its own ``ru_maxrss`` (Linux keeps the high-water mark across exec)."""
    out = bench_dir() / f"inspect-{rows}-{shards}"
    if not (out / DESCRIPTOR).exists():
        code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import inspect_data; " \
               f"inspect_data.build({rows}, {shards})"
        subprocess.run([sys.executable, "-c", code], check=True)
    return out
