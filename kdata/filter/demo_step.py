"""The ``filter`` step of ``kcli demo``: the samples through ``kcli filter`` with tiny presets."""

from __future__ import annotations

from pathlib import Path

from kdata.demo_context import DemoContext, StepResult

DEMO_HEAD_SEED = 0


def step_filter(ctx: DemoContext) -> StepResult:
    from kdata.bundled import bundled_path
    from kdata.filter.config import load_filter_config
    from kdata.filter.run import run_filter

    config = load_filter_config(bundled_path("filters/demo.toml"))
    config.aesthetic.weights = str(_demo_aesthetic_head(ctx))
    out = ctx.path("04-filtered")
    result = run_filter(ctx.image_manifest, config, out)
    ctx.image_manifest = out
    return StepResult("filter", out, {"rows": result.manifest.num_rows, "stats": result.stats,
                                      "report": str(result.report)})


def _demo_aesthetic_head(ctx: DemoContext) -> Path:
    """A random head in the public aesthetic predictor's layout, sized for tiny-open-clip (written once)."""
    from safetensors.torch import save_file

    from kdata.atomic import atomic_path
    from kdata.filter.heads import random_aesthetic_state
    from kdata.models.tiny_open_clip import MODEL_CONFIG

    target = ctx.path("heads") / "aesthetic-tiny-open-clip.safetensors"
    if not target.exists():
        with atomic_path(target) as tmp:
            save_file(random_aesthetic_state(int(MODEL_CONFIG["embed_dim"]), DEMO_HEAD_SEED), str(tmp))
    return target
