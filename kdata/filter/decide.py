"""The global pass: decisions that need every row at once (percentile thresholds, duplicates).

It streams only the columns it needs from the scored manifest (keys, sizes, hashes, scores and, for
embedding dedup, the vectors), in this order:

1. Percentile rules (``top_percent``) become absolute thresholds over the ``ok`` rows in their scope,
   and the rows below are rejected with the rule's reason. The value used is recorded. Rows a per-row
   rule already rejected take no part in the percentile, but are checked against the threshold too, so
   ``filter_failed`` lists every rule a row fails; their reason (and its stats class) stays the per-row
   rule's, which the score stage counted.
2. Duplicates among the rows still ``ok``: same file bytes, same decoded pixels, pHash within
   ``phash_max_distance`` bits (and close colour signatures), CLIP cosine >= ``embedding_min_cosine``.
   Groups are the connected components of those links. Each group keeps one representative: highest
   resolution, then highest ``prefer`` score, then smallest key, so the choice is deterministic and a
   re-run or a resumed run makes the same one. The others get ``duplicate_of=<representative key>``.

Everything is keyed by row key and written to one Parquet file that :class:`ApplyStage` reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kdata.atomic import atomic_path
from kdata.filter.config import FilterConfig, RuleConfig
from kdata.filter.near_dup import components, cosine_pairs, equal_pairs, hamming_pairs
from kdata.filter.phash import hashes_to_uint64
from kdata.filter.scores import ScoreThresholdConfig
from kdata.filter.stage import EMBEDDING_COLUMN
from kdata.manifest import Manifest
from kdata.schema import Status

FINGERPRINT_KEY = b"kcli.filter.scored_fingerprint"
SUMMARY_KEY = b"kcli.filter.summary"


@dataclass
class Decisions:
    reasons: dict[str, str] = field(default_factory=dict)  # key -> reason, for rows the global pass rejects
    duplicate_of: dict[str, str] = field(default_factory=dict)  # key -> representative key
    # key -> every rule the row fails, comma-joined in rule order, for rows that fail a percentile rule
    failed: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)  # percentile rule name -> value used
    duplicate_groups: int = 0


def global_rules(config: FilterConfig) -> list[RuleConfig]:
    return [r for r in config.rules if isinstance(r.params, ScoreThresholdConfig) and r.params.is_global]


def _columns_needed(config: FilterConfig, available: set[str]) -> list[str]:
    wanted = ["key", "status", "filter_failed", "width", "height", "sha256", "pixel_sha256", "phash", "color_sig",
              config.dedup.prefer]
    for rule in global_rules(config):
        wanted += [config.spec(rule).score_column or "", *rule.scope_columns]
    if config.dedup.embedding_min_cosine > 0:
        wanted.append(EMBEDDING_COLUMN)
    return [c for c in dict.fromkeys(wanted) if c in available]


def decide(scored: Manifest, config: FilterConfig) -> Decisions:
    columns = _columns_needed(config, set(scored.schema().names))
    table = scored.read_table(columns) if scored.num_rows else None
    decisions = Decisions()
    if table is None or table.num_rows == 0:
        return decisions
    # Failed rows (an unreadable image) have no scores; rejected ones are kept for ``filter_failed``.
    table = table.filter(pc.fill_null(pc.not_equal(table.column("status"), Status.FAILED), False))
    alive = np.asarray(pc.fill_null(pc.equal(table.column("status"), Status.OK), False), dtype=bool)
    failed: dict[int, list[str]] = {}
    for rule in global_rules(config):
        _apply_percentile(table, rule, config, alive, decisions, failed)
    _record_failed(table, config, failed, decisions)
    _find_duplicates(table.filter(pa.array(alive)), config, decisions)
    return decisions


def _apply_percentile(table: pa.Table, rule: RuleConfig, config: FilterConfig, alive: np.ndarray,
                      decisions: Decisions, failed: dict[int, list[str]]) -> None:
    spec = config.spec(rule)
    column = spec.score_column or ""
    rows = table.select([c for c in ["key", column, *rule.scope_columns] if c in table.column_names]).to_pylist()
    in_scope = [i for i, row in enumerate(rows) if rule.applies(row)]
    scores = np.array([rows[i][column] for i in in_scope if alive[i] and rows[i].get(column) is not None],
                      dtype=np.float64)
    if not len(scores):
        return
    # Keep the top k%: the threshold is the (100 - k)th percentile of the in-scope scores of rows still ok.
    threshold = float(np.percentile(scores, 100.0 - float(rule.params.top_percent)))
    decisions.thresholds[rule.name] = threshold
    absolute = ScoreThresholdConfig(min=threshold)
    for i in in_scope:
        reason = spec.check(rows[i], absolute)
        if reason is None:
            continue
        failed.setdefault(i, []).append(rule.name)
        if alive[i]:
            decisions.reasons[rows[i]["key"]] = reason
            alive[i] = False


def _record_failed(table: pa.Table, config: FilterConfig, failed: dict[int, list[str]],
                   decisions: Decisions) -> None:
    """Merge percentile failures into the per-row pass's ``filter_failed``, in the config's rule order."""
    if not failed:
        return
    keys = table.column("key").to_pylist()
    before = (table.column("filter_failed").to_pylist() if "filter_failed" in table.column_names
              else [None] * len(keys))
    for i, names in failed.items():
        listed = set(names) | set((before[i] or "").split(","))
        decisions.failed[keys[i]] = ",".join(rule.name for rule in config.rules if rule.name in listed)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a string column's values, and the mask of rows that have a value."""
    encoded = column.combine_chunks().dictionary_encode()
    valid = ~np.asarray(encoded.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return codes, valid


def _exact_pairs(table: pa.Table, column: str) -> np.ndarray:
    if column not in table.column_names:
        return np.empty((0, 2), dtype=np.int64)
    codes, valid = _codes(table.column(column))
    rows = np.flatnonzero(valid)
    return rows[equal_pairs(codes[rows])]


def _phash_pairs(table: pa.Table, config: FilterConfig) -> np.ndarray:
    dedup = config.dedup
    if dedup.phash_max_distance < 0 or "phash" not in table.column_names:
        return np.empty((0, 2), dtype=np.int64)
    phash = table.column("phash").to_pylist()
    signature = table.column("color_sig").to_pylist() if "color_sig" in table.column_names else [None] * len(phash)
    rows = np.array([i for i, h in enumerate(phash) if h], dtype=np.int64)
    if len(rows) < 2:
        return np.empty((0, 2), dtype=np.int64)
    hashes = hashes_to_uint64([phash[i] for i in rows])
    guard = dedup.color_max_distance >= 0 and all(signature[i] for i in rows)
    identity = None
    if guard:  # each (hash, colour) variant must meet the guard itself, not through its hash's first copy
        _, identity = np.unique(np.array([f"{phash[i]}:{signature[i]}" for i in rows]), return_inverse=True)
    pairs = rows[hamming_pairs(hashes, dedup.phash_max_distance, identity=identity)]
    if guard and len(pairs):
        colours = np.array([np.frombuffer(bytes.fromhex(s or ""), dtype=np.uint8) for s in signature], dtype=object)
        distance = np.array([np.abs(colours[a].astype(np.int16) - colours[b]).mean() for a, b in pairs.tolist()])
        pairs = pairs[distance <= dedup.color_max_distance]
    return pairs


def _embedding_pairs(table: pa.Table, config: FilterConfig) -> np.ndarray:
    if config.dedup.embedding_min_cosine <= 0 or EMBEDDING_COLUMN not in table.column_names:
        return np.empty((0, 2), dtype=np.int64)
    vectors = table.column(EMBEDDING_COLUMN).to_pylist()
    rows = np.array([i for i, v in enumerate(vectors) if v is not None], dtype=np.int64)
    if len(rows) < 2:
        return np.empty((0, 2), dtype=np.int64)
    matrix = np.asarray([vectors[i] for i in rows], dtype=np.float32)
    return rows[cosine_pairs(matrix, config.dedup.embedding_min_cosine)]


def _find_duplicates(table: pa.Table, config: FilterConfig, decisions: Decisions) -> None:
    dedup = config.dedup
    links = [_phash_pairs(table, config), _embedding_pairs(table, config)]
    if dedup.exact_bytes:
        links.append(_exact_pairs(table, "sha256"))
    if dedup.exact_pixels:
        links.append(_exact_pairs(table, "pixel_sha256"))
    pairs = np.concatenate([p.reshape(-1, 2) for p in links]).astype(np.int64)
    if not len(pairs):
        return
    labels = components(table.num_rows, pairs)
    keys = table.column("key").to_pylist()
    area = [(w or 0) * (h or 0) for w, h in zip(table.column("width").to_pylist(),
                                                 table.column("height").to_pylist())]
    prefer = table.column(dedup.prefer).to_pylist() if dedup.prefer in table.column_names else [None] * len(keys)
    groups: dict[int, list[int]] = {}
    for index in np.flatnonzero(np.bincount(labels, minlength=len(labels))[labels] > 1).tolist():
        groups.setdefault(int(labels[index]), []).append(index)
    for members in groups.values():
        best = min(members, key=lambda i: (-area[i], -(prefer[i] if prefer[i] is not None else -np.inf), keys[i]))
        for i in members:
            if i != best:
                decisions.duplicate_of[keys[i]] = keys[best]
                decisions.reasons[keys[i]] = f"duplicate_of={keys[best]}"
    decisions.duplicate_groups = len(groups)


def write_decisions(path: Path, decisions: Decisions, scored_fingerprint: str) -> None:
    """One row per key the global pass decided: a null ``reason`` (or ``filter_failed``) leaves the row's as is."""
    keys = sorted(set(decisions.reasons) | set(decisions.failed))
    table = pa.table({
        "key": pa.array(keys, pa.string()),
        "reason": pa.array([decisions.reasons.get(k) for k in keys], pa.string()),
        "duplicate_of": pa.array([decisions.duplicate_of.get(k) for k in keys], pa.string()),
        "filter_failed": pa.array([decisions.failed.get(k) for k in keys], pa.string()),
    })
    summary = {"thresholds": decisions.thresholds, "duplicate_groups": decisions.duplicate_groups}
    table = table.replace_schema_metadata({FINGERPRINT_KEY: scored_fingerprint.encode(),
                                           SUMMARY_KEY: json.dumps(summary).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_decisions_summary(path: Path) -> tuple[str | None, dict[str, Any]]:
    """The scored fingerprint the decisions were made from, and their summary (thresholds, groups)."""
    if not path.exists():
        return None, {}
    metadata = pq.read_schema(path).metadata or {}
    fingerprint = metadata.get(FINGERPRINT_KEY, b"").decode() or None
    return fingerprint, json.loads(metadata.get(SUMMARY_KEY, b"{}").decode())
