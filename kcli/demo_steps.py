"""``kcli demo``: the whole pipeline, offline, on the bundled samples and tiny model presets.

Each step writes under the work directory and returns what it made; a step is a small function kept
beside its stage (``<package>/<stage>/demo_step.py``), so a new stage adds one function there and one
line to :data:`STEPS`. The list lives here, above kdata and ktrain, because it names steps from both;
the steps share only :mod:`kdata.demo_context`. Re-running the demo resumes: stages skip finished
shards, presets are built once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from kdata.atomic import write_json_atomic
from kdata.caption.demo_step import step_caption
from kdata.corpus.demo_step import step_corpus
from kdata.crawl.demo_step import step_crawl
from kdata.demo_context import DemoContext, StepFn, StepResult
from kdata.demo_step import step_inspect, step_presets, step_verify
from kdata.filter.demo_step import step_filter
from kdata.ingest.demo_step import step_ingest
from kdata.progress import ProgressCallback, ProgressEvent, notify
from kdata.publish.demo_step import step_publish
from ktrain.encoder.demo_step import step_encoder
from ktrain.lora.demo_step import step_lora
from ktrain.t2i.demo_step import step_eval_t2i

# In pipeline order. Each stage adds its step function (kept in its own module) and one line here.
STEPS: list[tuple[str, StepFn]] = [
    ("ingest", step_ingest),
    ("crawl", step_crawl),
    ("verify", step_verify),
    ("inspect", step_inspect),
    ("filter", step_filter),
    ("presets", step_presets),
    ("caption", step_caption),
    ("corpus", step_corpus),
    ("encoder", step_encoder),
    ("lora", step_lora),
    ("eval-t2i", step_eval_t2i),
    ("publish", step_publish),
]


def run_demo(workdir: Path, progress: ProgressCallback | None = None) -> list[StepResult]:
    """Run every step in order; a ``demo`` progress event names each step before it starts."""
    ctx = DemoContext(Path(workdir).resolve())
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    for index, (name, step) in enumerate(STEPS):
        notify(progress, ProgressEvent("demo", index, len(STEPS), "steps", detail=name))
        started = time.perf_counter()
        result = step(ctx)
        result.seconds = time.perf_counter() - started
        ctx.results[name] = result
    notify(progress, ProgressEvent("demo", len(STEPS), len(STEPS), "steps", detail="done"))
    results = list(ctx.results.values())
    write_json_atomic(ctx.workdir / "summary.json", [r.to_dict() for r in results])
    return results


def summary_rows(results: list[StepResult]) -> list[tuple[str, str, str, str]]:
    rows = []
    for result in results:
        brief = {k: v for k, v in result.summary.items() if k in ("rows", "stats", "files", "note")}
        rows.append((result.name, f"{result.seconds:.1f}s", str(result.output), json.dumps(brief, ensure_ascii=False)))
    return rows
