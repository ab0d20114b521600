"""Summarise a manifest without loading it: schema, funnel, per-column statistics, samples, lineage.

Everything streams record batches, so memory stays flat however many rows there are. Medians come from
a fixed-size uniform sample (exact up to ``SAMPLE_CAP`` values per column, an estimate beyond).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kdata.blobs import RefusedBlobDir
from kdata.manifest import Manifest, open_manifest
from kdata.textnorm import HANGUL_RE2

SAMPLE_CAP = 100_000
SAMPLE_ROWS = 3
HANGUL = HANGUL_RE2
LATIN = r"[A-Za-z]"


@dataclass
class NumericSummary:
    count: int = 0
    nulls: int = 0
    min: float | None = None
    max: float | None = None
    # Bottom-k sample: every value gets a uniform random key and the SAMPLE_CAP smallest keys are kept,
    # which is a uniform sample without replacement in O(n) and bounded memory.
    sample_keys: np.ndarray = field(default_factory=lambda: np.empty(0))
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))

    def add(self, column: pa.Array, rng: np.random.Generator) -> None:
        self.nulls += column.null_count
        values = column.drop_null().to_numpy(zero_copy_only=False).astype(np.float64)
        if values.size == 0:
            return
        self.count += values.size
        self.min = float(values.min()) if self.min is None else min(self.min, float(values.min()))
        self.max = float(values.max()) if self.max is None else max(self.max, float(values.max()))
        keys = np.concatenate([self.sample_keys, rng.random(values.size)])
        values = np.concatenate([self.sample, values])
        if keys.size > SAMPLE_CAP:
            keep = np.argpartition(keys, SAMPLE_CAP)[:SAMPLE_CAP]
            keys, values = keys[keep], values[keep]
        self.sample_keys, self.sample = keys, values

    def to_dict(self) -> dict[str, Any]:
        median = float(np.median(self.sample)) if self.sample.size else None
        return {
            "type": "numeric",
            "count": self.count,
            "nulls": self.nulls,
            "min": self.min,
            "median": median,
            "max": self.max,
            "median_exact": self.count <= SAMPLE_CAP,
        }


@dataclass
class TextSummary:
    count: int = 0
    nulls: int = 0
    empty: int = 0
    length_sum: int = 0
    length_min: int | None = None
    length_max: int | None = None
    script: Counter[str] = field(default_factory=Counter)

    def add(self, column: pa.Array) -> None:
        self.nulls += column.null_count
        values = column.drop_null()
        if len(values) == 0:
            return
        lengths = pc.utf8_length(values)
        self.count += len(values)
        self.empty += pc.sum(pc.equal(lengths, 0)).as_py() or 0
        self.length_sum += pc.sum(lengths).as_py() or 0
        low, high = pc.min_max(lengths).values()
        self.length_min = low.as_py() if self.length_min is None else min(self.length_min, low.as_py())
        self.length_max = high.as_py() if self.length_max is None else max(self.length_max, high.as_py())
        hangul = pc.match_substring_regex(values, HANGUL)
        latin = pc.match_substring_regex(values, LATIN)
        self.script["hangul"] += _count(pc.and_(hangul, pc.invert(latin)))
        self.script["latin"] += _count(pc.and_(latin, pc.invert(hangul)))
        self.script["mixed"] += _count(pc.and_(hangul, latin))
        self.script["other"] += _count(pc.and_(pc.invert(hangul), pc.invert(latin)))

    def to_dict(self) -> dict[str, Any]:
        mean = self.length_sum / self.count if self.count else None
        return {
            "type": "text",
            "count": self.count,
            "nulls": self.nulls,
            "empty": self.empty,
            "length": {"min": self.length_min, "mean": mean, "max": self.length_max},
            "script": dict(self.script),
        }


@dataclass
class BinarySummary:
    count: int = 0
    nulls: int = 0
    bytes: int = 0

    def add(self, column: pa.Array) -> None:
        self.nulls += column.null_count
        values = column.drop_null()
        self.count += len(values)
        self.bytes += pc.sum(pc.binary_length(values)).as_py() or 0

    def to_dict(self) -> dict[str, Any]:
        return {"type": "binary", "count": self.count, "nulls": self.nulls, "total_bytes": self.bytes}


def _count(mask: pa.Array) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _summary_for(data_type: pa.DataType) -> NumericSummary | TextSummary | BinarySummary | None:
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_boolean(data_type):
        return NumericSummary()
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return TextSummary()
    if pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type):
        return BinarySummary()
    return None


def inspect_manifest(path: str | os.PathLike[str], samples: int = SAMPLE_ROWS) -> dict[str, Any]:
    """Return the whole summary as plain data (the CLI renders it as tables or ``--json``)."""
    manifest = open_manifest(path)
    schema = manifest.schema()
    summaries = {f.name: s for f in schema if (s := _summary_for(f.type)) is not None}
    funnel: Counter[tuple[str, str]] = Counter()
    rng = np.random.default_rng(0)
    for batch in manifest.iter_batches(batch_size=16384):
        _add_funnel(funnel, batch)
        for name, summary in summaries.items():
            column = batch.column(name)
            if isinstance(summary, NumericSummary):
                summary.add(column.cast(pa.float64()) if pa.types.is_boolean(column.type) else column, rng)
            else:
                summary.add(column)
    return {
        "path": str(Path(path)),
        "kind": manifest.descriptor["kind"],
        "schema_version": manifest.descriptor["schema_version"],
        "fingerprint": manifest.fingerprint,
        "rows": manifest.num_rows,
        "shards": len(manifest.shard_paths),
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "lineage": manifest.lineage_chain,
        "funnel": [{"status": s, "reason": r, "rows": n} for (s, r), n in sorted(funnel.items())],
        "columns": {name: s.to_dict() for name, s in summaries.items()},
        "samples": _sample_rows(manifest, samples),
        "stats": manifest.descriptor.get("stats", {}),
        # Blob stores outside the manifest that kcli did not create are never read (see kdata.blobs).
        "blob_dirs": [{"path": str(d), "readable": not isinstance(d, RefusedBlobDir)} for d in manifest.blob_dirs],
    }


def _add_funnel(funnel: Counter[tuple[str, str]], batch: pa.RecordBatch) -> None:
    if "status" not in batch.schema.names:
        return
    reasons = batch.column("reason") if "reason" in batch.schema.names else pa.nulls(batch.num_rows, pa.string())
    table = pa.table({"status": batch.column("status"), "reason": pc.fill_null(reasons, "")})
    grouped = table.group_by(["status", "reason"]).aggregate([([], "count_all")])
    for row in grouped.to_pylist():
        funnel[(row["status"], row["reason"])] += row["count_all"]


def _sample_rows(manifest: Manifest, count: int) -> list[dict[str, Any]]:
    if count <= 0:
        return []
    schema = manifest.schema()
    columns = [f.name for f in schema if not (pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type))]
    for batch in manifest.iter_batches(columns=columns, batch_size=count):
        return batch.slice(0, count).to_pylist()
    return []
