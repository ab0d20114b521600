"""What a dataset card and a report say about a manifest: funnel, sources, licences, models, lineage.

All of it streams only small columns (never image bytes), so it costs little on any manifest size.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kdata.manifest import Manifest
from kdata.runner.stats import reason_class
from kdata.schema import Status

# Config keys that name a model in a stage's lineage (``clip_model``, ``captioner``, ``translator_ko``...).
MODEL_KEY = re.compile(r"model|captioner|translator|checkpoint|preset|encoder", re.IGNORECASE)
WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


def funnel(manifest: Manifest) -> list[dict[str, Any]]:
    """Rows per (status, reason class), ``ok`` first, then the largest groups."""
    counts: Counter[tuple[str, str]] = Counter()
    names = set(manifest.schema().names)
    columns = [c for c in ("status", "reason") if c in names]
    for batch in manifest.iter_batches(columns=columns, batch_size=65536):
        statuses = batch.column("status").to_pylist()
        reasons = batch.column("reason").to_pylist() if "reason" in columns else [None] * len(statuses)
        for status, reason in zip(statuses, reasons):
            counts[(status, "" if status == Status.OK else reason_class(reason))] += 1
    order = {Status.OK: 0, Status.REJECTED: 1, Status.FAILED: 2}
    ranked = sorted(counts.items(), key=lambda kv: (order.get(kv[0][0], 3), -kv[1], kv[0][1]))
    return [{"status": s, "reason": r, "rows": n} for (s, r), n in ranked]


def value_counts(files: Sequence[Path], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows per combination of ``columns`` over Parquet files (columns a file lacks count as null)."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for path in files:
        parquet = pq.ParquetFile(path)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        if not present:
            counts[tuple(None for _ in columns)] += parquet.metadata.num_rows
            continue
        for batch in parquet.iter_batches(columns=present, batch_size=65536):
            values = {c: batch.column(c).to_pylist() for c in present}
            for i in range(batch.num_rows):
                counts[tuple(values[c][i] if c in values else None for c in columns)] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], [str(v) for v in kv[0]]))
    return [{**dict(zip(columns, key)), "rows": n} for key, n in ranked]


def models_used(lineage: Iterable[dict[str, Any]], files: Sequence[Path] = ()) -> list[dict[str, str]]:
    """Models named in each stage's config, plus the distinct values of ``*_model`` columns."""
    found: dict[tuple[str, str, str], None] = {}
    for entry in lineage:
        for setting, value in _model_settings(entry.get("config") or {}):
            found[(str(entry.get("stage")), setting, value)] = None
    for path in files:
        names = [n for n in pq.read_schema(path).names if n.endswith("_model")]
        if names:
            table = pq.read_table(path, columns=names)
            for name in names:
                for value in pc.unique(table.column(name)).to_pylist():
                    if value:
                        found[("rows", name, str(value))] = None
    return [{"stage": s, "setting": k, "model": v} for s, k, v in found]


def _model_settings(config: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _model_settings(value, f"{name}.")
        elif MODEL_KEY.search(str(key)) and isinstance(value, str) and value:
            yield name, value
        elif MODEL_KEY.search(str(key)) and isinstance(value, list):
            yield from ((name, str(v)) for v in value if isinstance(v, str) and v)


def public_lineage(chain: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lineage chain without the publisher's local paths (a parent's path, absolute config paths)."""
    return [
        {
            "stage": entry.get("stage"),
            "kcli_version": entry.get("kcli_version"),
            "created": entry.get("created"),
            "parent_fingerprint": entry.get("parent_fingerprint"),
            "config": scrub_paths(entry.get("config") or {}),
        }
        for entry in chain
    ]


def scrub_paths(value: Any) -> Any:
    """Replace absolute local paths and ``file:`` URLs by ``<local>/<basename>``."""
    if isinstance(value, dict):
        return {k: scrub_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_paths(v) for v in value]
    if isinstance(value, str) and (value.startswith(("/", "~", "file:")) or WINDOWS_PATH.match(value)):
        return f"<local>/{Path(value.rstrip('/')).name}"
    return value


def numeric_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
