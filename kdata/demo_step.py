"""kdata's own ``kcli demo`` steps that belong to no single stage: verify, inspect, presets."""

from __future__ import annotations

from kdata.atomic import write_json_atomic
from kdata.demo_context import DemoContext, StepResult


def step_verify(ctx: DemoContext) -> StepResult:
    from kdata.verify import verify_manifest

    out = ctx.path("02-verified")
    result = verify_manifest(ctx.image_manifest, out)
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
