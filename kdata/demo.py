"""``kcli demo``: the whole pipeline, offline, on the bundled samples and tiny model presets.

Each step writes under the work directory and returns what it made; a step is a small function so a
new stage adds one function and one line to :data:`STEPS`. Re-running the demo resumes: stages skip
finished shards, presets are built once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.atomic import write_json_atomic
from kdata.caption.demo import step_caption
from kdata.corpus.demo import step_corpus
from kdata.crawl.demo_step import step_crawl
from kdata.filter.demo_step import step_filter
from kdata.ingest.demo_step import step_ingest
from kdata.publish.demo import step_publish
from ktrain.encoder.demo_step import step_encoder
from ktrain.lora.demo_step import step_lora
from ktrain.t2i.demo_step import step_eval_t2i


@dataclass
class StepResult:
    name: str
    output: Path
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "output": str(self.output), "seconds": round(self.seconds, 2), **self.summary}


@dataclass
class DemoContext:
    """What the steps share: the work directory, each step's result, and the latest manifests.

    An image stage reads ``image_manifest`` and sets it to its output, so steps chain without naming
    each other; the same holds for ``parallel_manifest`` on the text side.
    """

    workdir: Path
    results: dict[str, StepResult] = field(default_factory=dict)
    image_manifest: Path | None = None
    parallel_manifest: Path | None = None
    artifacts: dict[str, Path] = field(default_factory=dict)  # named outputs later steps use (a trained model)

    def path(self, name: str) -> Path:
        return self.workdir / name


StepFn = Callable[[DemoContext], StepResult]


def step_samples(ctx: DemoContext) -> StepResult:
    from kdata.manifest import DESCRIPTOR, open_manifest
    from kdata.samples import write_sample_manifest

    out = ctx.path("01-samples")
    manifest = open_manifest(out) if (out / DESCRIPTOR).exists() else write_sample_manifest(out)
    ctx.image_manifest = out
    return StepResult("samples", out, {"rows": manifest.num_rows})


def step_verify(ctx: DemoContext) -> StepResult:
    from kdata.manifest import open_manifest
    from kdata.runner import manifest_sources, run_stage
    from kdata.verify import VerifyConfig, VerifyStage

    parent = open_manifest(ctx.image_manifest)
    out = ctx.path("02-verified")
    result = run_stage(VerifyStage, VerifyConfig(), manifest_sources(parent), out, parent=parent)
    ctx.image_manifest = out
    return StepResult("verify", out, {"rows": result.manifest.num_rows, "stats": result.stats})


def step_inspect(ctx: DemoContext) -> StepResult:
    from kdata.inspect import inspect_manifest

    latest = ctx.image_manifest
    summary = inspect_manifest(latest)
    out = ctx.path("inspect.json")
    write_json_atomic(out, summary)
    return StepResult("inspect", out, {"manifest": str(latest), "funnel": summary["funnel"]})


def step_presets(ctx: DemoContext) -> StepResult:
    """Build every tiny preset and run each once (CLIP, Stable Diffusion, captioner, translator)."""
    from kdata.models import ensure_preset, list_presets
    from kdata.models.smoke import run_all
    from kdata.samples import SAMPLE_IMAGES

    built = {name: str(ensure_preset(name)) for name in list_presets()}
    out = ctx.path("presets")
    images = sorted(SAMPLE_IMAGES.glob("*.jpg"))
    outputs = run_all(images, out)
    write_json_atomic(out / "presets.json", {"built": built, "outputs": outputs})
    return StepResult("presets", out, {"files": sorted(p.name for p in out.iterdir()), "presets": sorted(built)})


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


def run_demo(workdir: Path, on_step: Callable[[str, int, int], None] | None = None) -> list[StepResult]:
    """Run every step in order; ``on_step(name, index, total)`` is called before each."""
    ctx = DemoContext(Path(workdir).resolve())
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    for index, (name, step) in enumerate(STEPS):
        if on_step is not None:
            on_step(name, index, len(STEPS))
        started = time.perf_counter()
        result = step(ctx)
        result.seconds = time.perf_counter() - started
        ctx.results[name] = result
    if on_step is not None:
        on_step("done", len(STEPS), len(STEPS))
    results = list(ctx.results.values())
    write_json_atomic(ctx.workdir / "summary.json", [r.to_dict() for r in results])
    return results


def summary_rows(results: list[StepResult]) -> list[tuple[str, str, str, str]]:
    rows = []
    for result in results:
        brief = {k: v for k, v in result.summary.items() if k in ("rows", "stats", "files", "note")}
        rows.append((result.name, f"{result.seconds:.1f}s", str(result.output), json.dumps(brief, ensure_ascii=False)))
    return rows
