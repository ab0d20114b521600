"""The ``caption`` step of ``kcli demo``: template, alt text and the tiny captioner and translators."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from kdata.bundled import bundled_path
from kdata.demo_context import DemoContext, StepResult

DEMO_CONFIG = bundled_path("caption/demo.toml")


def step_caption(ctx: DemoContext) -> StepResult:
    from kdata.caption.stage import run_caption

    out = ctx.path("06-captioned")
    result = run_caption(ctx.image_manifest, DEMO_CONFIG, out)
    ctx.image_manifest = out
    columns = ["key", "category", "caption_ko_source", "caption_en_source", "caption_ko_candidates",
               "caption_en_candidates"]
    rows = result.manifest.read_table(columns=columns).to_pylist()
    summary: dict[str, Any] = {
        "rows": result.manifest.num_rows,
        "stats": result.stats,
        "sources": _sources_by_category(rows),
        "candidates": _candidates_by_backend(rows),
        "skipped": result.manifest.descriptor["lineage"]["config"]["skipped"],
        "note": _note(result.manifest.descriptor["lineage"]["config"]["skipped"]),
    }
    return StepResult("caption", out, summary)


def _sources_by_category(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    """{category: {"ko": {source: rows}, "en": {...}}}: which backend captioned what."""
    out: dict[str, dict[str, Counter[str]]] = {}
    for row in rows:
        per = out.setdefault(row.get("category") or "(none)", {"ko": Counter(), "en": Counter()})
        per["ko"][row["caption_ko_source"] or "none"] += 1
        per["en"][row["caption_en_source"] or "none"] += 1
    return {cat: {lang: dict(sorted(c.items())) for lang, c in langs.items()} for cat, langs in sorted(out.items())}


def _candidates_by_backend(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many candidates each backend made (every backend runs on every row with ``collect = "all"``)."""
    counts: Counter[str] = Counter()
    for row in rows:
        for language in ("ko", "en"):
            for candidate in json.loads(row[f"caption_{language}_candidates"] or "[]"):
                counts[candidate["backend"] + (" (failed)" if candidate.get("error") else "")] += 1
    return dict(sorted(counts.items()))


def _note(skipped: list[str]) -> str:
    if skipped:
        return ("ink-painting templates skipped (no paper_type/method columns: ingest with the ink-painting "
                "mapping adds them); Korean captions from alt text, English from the sidecar captions")
    return "ink paintings captioned from the paper_type/method template; the rest from alt text and sidecar captions"
