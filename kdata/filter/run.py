"""``kcli filter``: score every row, decide what needs the whole manifest, apply it, write the report.

Layout of the output directory::

    OUT/manifest.json, data/, stats.json     the filtered manifest (every input row, with a decision)
    OUT/report/                              counts, histograms, contact sheet (kdata.filter.report)
    OUT/_work/filter/scored/                 pass 1: scores and decisions per row (no inline bytes)
    OUT/_work/filter/decisions.parquet       the global pass: percentile and duplicate decisions

The final stage claims OUT first (so a re-run with other settings is refused before any work), then
its source planner runs pass 1 and the global pass inside it. Each part resumes: pass 1 and the final
pass skip finished shards; the decisions are reused while the scored manifest they came from is
unchanged, and recomputing them gives the same result anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kdata.filter.config import FilterConfig
from kdata.filter.decide import decide, read_decisions_summary, write_decisions
from kdata.filter.plan import plan_rules
from kdata.filter.stage import DECISIONS_FILE, ApplyStage, JoinedShardSource, ScoreStage
from kdata.fspath import is_remote, remote_output
from kdata.manifest import Manifest, open_manifest
from kdata.runner import RunOptions, RunResult, ShardSource, manifest_sources, run_stage
from kdata.runner.executors import executor_session
from kdata.runner.stats import merge

SCORED_DIR = Path("_work") / "filter" / "scored"


@dataclass
class FilterResult:
    run: RunResult  # the final stage's run (manifest, its own stats, shards run/skipped)
    stats: dict[str, int]  # the whole filter's counters: kept, dropped/<reason>, clip/encoded, ...
    thresholds: dict[str, float] = field(default_factory=dict)
    report: Path | None = None
    warnings: list[str] = field(default_factory=list)
    skipped_rules: list[dict[str, str]] = field(default_factory=list)  # {"rule", "reason"}: never applied

    @property
    def manifest(self) -> Manifest:
        return self.run.manifest

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": str(self.manifest.path),
            "rows": self.manifest.num_rows,
            "fingerprint": self.manifest.fingerprint,
            "shards_run": self.run.shards_run,
            "shards_skipped": self.run.shards_skipped,
            "stats": self.stats,
            "thresholds": self.thresholds,
            "report": str(self.report) if self.report else None,
            "warnings": self.warnings,
            "skipped_rules": self.skipped_rules,
        }


def run_filter(
    manifest: str | Path,
    config: FilterConfig,
    out: str | Path,
    options: RunOptions = RunOptions(),
    *,
    report: bool = True,
) -> FilterResult:
    """Score every row, decide (rules, duplicates, percentiles), then write the kept and rejected rows.

    Two passes, each its own progress phase (``filter-score``, then ``filter``); ``options.overwrite`` applies to
    ``out`` as a whole, so the scores are recomputed only when the output is started again.
    """
    if is_remote(out):  # both passes and the report are built locally, then uploaded (kdata.fspath)
        with remote_output(out, options.overwrite) as local:
            return run_filter(manifest, config, local, options, report=report)
    parent = open_manifest(manifest)
    warnings = scope_warnings(parent, config)
    rule_plan = plan_rules(parent, config)
    config = rule_plan.active(config)  # rules that cannot judge this manifest never reject a row
    passes: dict[str, Any] = {}

    def plan(out_dir: Path) -> list[ShardSource]:
        scored = run_stage(ScoreStage, config, manifest_sources(parent), out_dir / SCORED_DIR, parent=parent,
                           options=replace(options, overwrite=False))
        passes["score"] = scored
        decisions_path = out_dir / DECISIONS_FILE
        fingerprint, _ = read_decisions_summary(decisions_path)
        if fingerprint != scored.manifest.fingerprint:
            write_decisions(decisions_path, decide(scored.manifest, config), scored.manifest.fingerprint)
        return [JoinedShardSource(i, s, decisions_path)
                for i, s in zip(parent.shard_paths, scored.manifest.shard_paths)]

    # One local Ray for both passes, not one each.
    with executor_session(options.executor, options.workers, options.ray_address):
        final = run_stage(ApplyStage, config, plan, out, parent=parent, options=options)
    _, summary = read_decisions_summary(Path(final.manifest.path) / DECISIONS_FILE)
    skipped = [{"rule": r.rule, "reason": r.why} for r in rule_plan.skipped]
    stats = combined_stats(passes["score"].stats, final.stats)
    stats.update({f"skipped_rules/{r['rule']}": 1 for r in skipped})
    result = FilterResult(final, dict(sorted(stats.items())), summary.get("thresholds", {}), warnings=warnings,
                          skipped_rules=skipped)
    if report:  # imported here, after the scoring loop: matplotlib is not needed before
        from kdata.filter.report import write_report

        result.report = write_report(final.manifest, config, result.stats, result.thresholds, skipped)
    return result


def combined_stats(score: dict[str, int], final: dict[str, int]) -> dict[str, int]:
    """Pass 1's counters, with the final pass's own drops (duplicates, percentiles) and its kept count."""
    merged = {k: v for k, v in score.items() if k != "kept"}
    extra = {k: v for k, v in final.items() if k.startswith(("dropped/", "failed/"))}
    result = merge([merged, extra])
    result["kept"] = final.get("kept", 0)
    return dict(sorted(result.items()))


def scope_warnings(manifest: Manifest, config: FilterConfig) -> list[str]:
    """``unless`` columns the manifest lacks: the rule runs on every row, and the name may be a typo.
    (A ``when`` column it lacks skips the rule; kdata.filter.plan reports that.)"""
    names = set(manifest.schema().names)
    return [f"rule {rule.name!r} runs on every row: its unless column {column!r} is not in {manifest.path}"
            for rule in config.rules for column in rule.unless if column not in names]
