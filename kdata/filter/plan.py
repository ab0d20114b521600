"""Which rules of a filter config run on a given manifest, and which scores the run must compute.

A rule that reads a column the manifest does not have, or one that is null or empty on every row (a folder
ingest has no alt text), cannot say anything about a row: applying it would reject every row as
``no_text``. Such a rule is *skipped*, with the reason, and reported; it never rejects. The same holds for
a rule scoped with ``when`` on a column the manifest lacks (it would match no row). A rule exempting rows
with ``unless`` on a missing column still runs, on every row, and the plan says so.

Only the columns a rule names are scanned, and a scan stops at the first non-empty value, so explaining
a plan reads little of a large manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from kdata.filter.config import FilterConfig, RuleConfig
from kdata.filter.registry import NEEDS_CLIP, NEEDS_IMAGE, NEEDS_TEXT
from kdata.manifest import Manifest


@dataclass(frozen=True)
class RuleDecision:
    rule: str
    filter: str
    needs: str
    runs: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "filter": self.filter, "needs": self.needs, "runs": self.runs, "why": self.why}


@dataclass
class RulePlan:
    manifest: str
    rows: int
    rules: list[RuleDecision] = field(default_factory=list)
    dedup: list[str] = field(default_factory=list)  # the duplicate tests that will run

    @property
    def skipped(self) -> list[RuleDecision]:
        return [r for r in self.rules if not r.runs]

    def active(self, config: FilterConfig) -> FilterConfig:
        """``config`` with only the rules that run (the one the stages see)."""
        running = {r.rule for r in self.rules if r.runs}
        active = replace(config, rules=[r for r in config.rules if r.name in running])
        active.source = config.source  # type: ignore[misc] - an instance attribute, see FilterConfig
        return active

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "rows": self.rows, "rules": [r.to_dict() for r in self.rules],
                "skipped_rules": [{"rule": r.rule, "reason": r.why} for r in self.skipped], "dedup": self.dedup}


def plan_rules(manifest: Manifest, config: FilterConfig) -> RulePlan:
    """Decide, from the manifest's schema and text columns only, which rules run and why."""
    names = set(manifest.schema().names)
    filled: dict[str, bool] = {}

    def has_values(column: str) -> bool:
        if column not in filled:
            filled[column] = column in names and _any_value(manifest, column)
        return filled[column]

    plan = RulePlan(str(manifest.path), manifest.num_rows, dedup=dedup_tests(config))
    for rule in config.rules:
        spec = config.spec(rule)
        runs, why = _decide_rule(rule, spec.needs, config, names, has_values)
        plan.rules.append(RuleDecision(rule.name, rule.filter, spec.needs, runs, why))
    return plan


def _decide_rule(rule: RuleConfig, needs: str, config: FilterConfig, names: set[str],
                 has_values: Any) -> tuple[bool, str]:
    for column in rule.when:
        if column not in names:
            return False, f"scoped with when on column {column!r}, which the manifest does not have"
        if not has_values(column):
            return False, f"scoped with when on column {column!r}, which is empty on every row"
    column = getattr(rule.params, "column", None)
    if needs == NEEDS_TEXT and column:
        if column not in names:
            return False, f"needs column {column!r}, which the manifest does not have"
        if not has_values(column):
            return False, f"column {column!r} is empty on every row"
    if needs == NEEDS_CLIP and rule.filter == "clip_score":
        texts = [c for c in config.clip.text_columns if has_values(c)]
        if not texts:
            return False, f"no text to compare: none of {', '.join(config.clip.text_columns)} has a value"
    notes = [f"unless on {c!r} exempts no row (column missing)" for c in rule.unless if c not in names]
    reads = f"reads {column!r}" if needs == NEEDS_TEXT and column else _NEEDS_WORDS.get(needs, needs)
    return True, "; ".join([reads, *notes])


_NEEDS_WORDS = {NEEDS_IMAGE: "decoded pixels (quality metrics)", NEEDS_CLIP: "CLIP embeddings",
                "aesthetic": "aesthetic head over CLIP embeddings", "safety": "safety scorer"}


def _any_value(manifest: Manifest, column: str) -> bool:
    """True at the first row whose ``column`` is not null and, for text, not blank."""
    for batch in manifest.iter_batches([column], batch_size=65536):
        values = batch.column(0)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            present = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
            if pc.any(pc.fill_null(present, False)).as_py():
                return True
        elif values.null_count < len(values):
            return True
    return False


def dedup_tests(config: FilterConfig) -> list[str]:
    dedup = config.dedup
    tests = [name for name, on in (("exact_bytes", dedup.exact_bytes), ("exact_pixels", dedup.exact_pixels)) if on]
    if dedup.phash_max_distance >= 0:
        tests.append(f"phash<={dedup.phash_max_distance} bits (whole, content box, centre crops)")
    if dedup.embedding_min_cosine > 0:
        tests.append(f"clip_cosine>={dedup.embedding_min_cosine}")
    return tests


def needed_scores(config: FilterConfig) -> tuple[bool, bool]:
    """(quality metrics, identity hashes): what the score stage must measure for these rules and dedup."""
    metrics = any(config.spec(rule).needs == NEEDS_IMAGE and rule.filter not in _SIZE_ONLY for rule in config.rules)
    dedup = config.dedup
    identity = dedup.exact_pixels or dedup.phash_max_distance >= 0
    return metrics, identity


_SIZE_ONLY = frozenset({"min_side"})  # checks width/height only, which every decode gives
