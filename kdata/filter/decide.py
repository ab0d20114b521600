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
   Groups are the connected components of those links. Each group keeps the copy a curator would:
   largest area, then higher encoding quality (bytes per pixel, same format only), then sharper, then
   the higher ``prefer`` score, then the smallest key; ``dup_keep_reason`` on the kept row names the
   criterion that decided ("largest", "higher_quality", "sharper", "prefer", "first"). The choice is
   deterministic, so a re-run or a resumed run makes the same one. The others get
   ``duplicate_of=<representative key>``.

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
from kdata.filter.near_dup import components, cosine_pairs, equal_pairs
from kdata.filter.phash_links import hash_items, phash_links
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
    keep_reason: dict[str, str] = field(default_factory=dict)  # representative key -> why it was kept
    # key -> every rule the row fails, comma-joined in rule order, for rows that fail a percentile rule
    failed: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)  # percentile rule name -> value used
    duplicate_groups: int = 0


def global_rules(config: FilterConfig) -> list[RuleConfig]:
    return [r for r in config.rules if isinstance(r.params, ScoreThresholdConfig) and r.params.is_global]


def _columns_needed(config: FilterConfig, available: set[str]) -> list[str]:
    wanted = ["key", "status", "filter_failed", "width", "height", "sha256", "pixel_sha256", "phash", "color_sig",
              "phash_crops", "format", "file_size", "blur_variance", config.dedup.prefer]
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
    """Rows whose hashes (whole, content box, centre crops) come within the distance, colour guard passed."""
    dedup = config.dedup
    if dedup.phash_max_distance < 0 or "phash" not in table.column_names:
        return np.empty((0, 2), dtype=np.int64)
    signature = _column(table, "color_sig")
    items = hash_items(_column(table, "phash"), _column(table, "phash_crops"), signature)
    return phash_links(items, signature, dedup.phash_max_distance, dedup.color_max_distance)


def _embedding_pairs(table: pa.Table, config: FilterConfig) -> np.ndarray:
    if config.dedup.embedding_min_cosine <= 0 or EMBEDDING_COLUMN not in table.column_names:
        return np.empty((0, 2), dtype=np.int64)
    vectors = table.column(EMBEDDING_COLUMN).to_pylist()
    rows = np.array([i for i, v in enumerate(vectors) if v is not None], dtype=np.int64)
    if len(rows) < 2:
        return np.empty((0, 2), dtype=np.int64)
    matrix = np.asarray([vectors[i] for i in rows], dtype=np.float32)
    dedup = config.dedup
    return rows[cosine_pairs(matrix, dedup.embedding_min_cosine, index_min_rows=dedup.embedding_index_min_rows,
                             nprobe=dedup.embedding_nprobe)]


def duplicate_pairs(table: pa.Table, config: FilterConfig) -> np.ndarray:
    """Row index pairs linked by any enabled test (exact bytes or pixels, pHashes, CLIP cosine)."""
    dedup = config.dedup
    links = [_phash_pairs(table, config), _embedding_pairs(table, config)]
    if dedup.exact_bytes:
        links.append(_exact_pairs(table, "sha256"))
    if dedup.exact_pixels:
        links.append(_exact_pairs(table, "pixel_sha256"))
    return np.concatenate([p.reshape(-1, 2) for p in links]).astype(np.int64)


def _find_duplicates(table: pa.Table, config: FilterConfig, decisions: Decisions) -> None:
    dedup = config.dedup
    pairs = duplicate_pairs(table, config)
    if not len(pairs):
        return
    labels = components(table.num_rows, pairs)
    keys = table.column("key").to_pylist()
    groups: dict[int, list[int]] = {}
    for index in np.flatnonzero(np.bincount(labels, minlength=len(labels))[labels] > 1).tolist():
        groups.setdefault(int(labels[index]), []).append(index)
    criteria = keep_criteria(table, dedup.prefer)
    formats = [str(f).lower().replace("jpg", "jpeg") if f else None for f in _column(table, "format")]
    for members in groups.values():
        best, why = choose_representative(members, criteria, keys, formats)
        decisions.keep_reason[keys[best]] = why
        for i in members:
            if i != best:
                decisions.duplicate_of[keys[i]] = keys[best]
                decisions.reasons[keys[i]] = f"duplicate_of={keys[best]}"
    decisions.duplicate_groups = len(groups)


def _column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows


def keep_criteria(table: pa.Table, prefer: str) -> list[tuple[str, list[float | None], float]]:
    """(reason, value per row, relative tolerance), best first: what a curator looks at, in that order.

    Area is exact. Bytes per pixel stands for encoding quality (a JPEG at quality 92 takes about twice
    the bytes of the same picture at 55); it is compared only between rows of one lossy format (see
    :func:`choose_representative`), and within 5% counts as a tie so two saves of one file do not decide
    on noise. Sharpness is the variance of the Laplacian, within 5% a tie. Then the configured score.
    """
    width, height, size = _column(table, "width"), _column(table, "height"), _column(table, "file_size")
    area = [float((w or 0) * (h or 0)) for w, h in zip(width, height)]
    bpp = [s / a if s and a else None for s, a in zip(size, area)]
    return [("largest", area, 0.0), ("higher_quality", bpp, 0.05),
            ("sharper", _column(table, "blur_variance"), 0.05),
            ("prefer", [_number(v) for v in _column(table, prefer)], 0.0)]


def _number(value: Any) -> float | None:
    """A score as a float; a value that is not a number (a text column named by mistake) ranks nothing."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


LOSSY_FORMATS = frozenset({"jpeg", "webp", "avif", "heic"})


def _one_lossy_format(candidates: list[int], formats: list[str | None] | None) -> bool:
    if formats is None:
        return True
    kinds = {formats[i] for i in candidates}
    return len(kinds) == 1 and kinds <= LOSSY_FORMATS


def choose_representative(members: list[int], criteria: list[tuple[str, list[float | None], float]],
                          keys: list[str], formats: list[str | None] | None = None) -> tuple[int, str]:
    """The copy to keep and why it won: each criterion keeps the candidates within its tolerance of the
    best. The reason is what separated the winner from the last copies still in the running: the last
    criterion that narrowed the field to one, or "first" when the smallest key had to end a tie."""
    candidates = list(members)
    why = None
    for name, values, tolerance in criteria:
        if name == "higher_quality" and not _one_lossy_format(candidates, formats):
            continue  # across formats bytes per pixel compares encoders; in PNG, compression levels
        scored = [values[i] for i in candidates if values[i] is not None]
        if not scored:
            continue
        top = max(scored)
        floor = top - abs(top) * tolerance
        narrowed = [i for i in candidates if values[i] is not None and values[i] >= floor]
        if len(narrowed) < len(candidates):
            why = name
            candidates = narrowed
    best = min(candidates, key=lambda i: keys[i])
    return best, why if len(candidates) == 1 and why else "first"


def write_decisions(path: Path, decisions: Decisions, scored_fingerprint: str) -> None:
    """One row per key the global pass decided: a null ``reason`` (or ``filter_failed``) leaves the row's as is."""
    keys = sorted(set(decisions.reasons) | set(decisions.failed) | set(decisions.keep_reason))
    table = pa.table({
        "key": pa.array(keys, pa.string()),
        "reason": pa.array([decisions.reasons.get(k) for k in keys], pa.string()),
        "duplicate_of": pa.array([decisions.duplicate_of.get(k) for k in keys], pa.string()),
        "filter_failed": pa.array([decisions.failed.get(k) for k in keys], pa.string()),
        "dup_keep_reason": pa.array([decisions.keep_reason.get(k) for k in keys], pa.string()),
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
