"""The ``kcli demo`` step for ``kcli eval t2i``: the first three bundled prompts through all three pipelines.

Uses the Korean text encoder an earlier demo step exported (``ctx.artifacts["text_encoder"]``) when there
is one that fits the tiny base, else the base's own encoder (the pipeline path is what the demo shows;
tiny presets' numbers mean nothing about quality). Re-running the demo finds every row done and only
rebuilds the scores and reports.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from kdata.demo_context import DemoContext, StepResult

OUT = "85-eval-t2i"
BASE = "tiny-sd"
LIMIT = 3


def demo_text_encoder(ctx: DemoContext) -> tuple[str | None, str]:
    """(encoder folder or None, what was used and why)."""
    from kdata.models import resolve_model
    from ktrain.lora.models import text_encoder_dirs

    encoder = (getattr(ctx, "artifacts", None) or {}).get("text_encoder")
    if not encoder:
        return None, "the base's own (no encoder was exported earlier in this demo)"
    model_dir, _ = text_encoder_dirs(encoder)
    width = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("hidden_size")
    unet = json.loads((Path(resolve_model(BASE, "stable-diffusion")) / "unet" / "config.json").read_text())
    if width != unet["cross_attention_dim"]:
        return None, f"the base's own ({encoder} is {width} wide, the UNet wants {unet['cross_attention_dim']})"
    return str(encoder), str(encoder)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Tiny presets gain nothing from intra-op threads, and on a busy machine the threads' spin-waits make a
    64 px render tens of times slower; the thread count is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def step_eval_t2i(ctx: DemoContext) -> StepResult:
    from ktrain.t2i.evaluate import T2IEvalConfig, evaluate_t2i

    encoder, encoder_note = demo_text_encoder(ctx)
    out = ctx.path(OUT)
    config = T2IEvalConfig(base=BASE, out=str(out), pipelines=["ko-encoder", "translate", "english-reference"],
                           text_encoder=encoder, translator="tiny-translator-ko-en", english_clip="tiny-clip",
                           korean_clip="tiny-open-clip", limit=LIMIT, steps=2, warmup=1)
    with _one_thread():
        result = evaluate_t2i(config)
    medians = {s["pipeline"]: {k: s[f"{k}_median"] for k in ("text_stage_s", "total_s", "clip_en", "clip_ko")}
               for s in result.summary}
    return StepResult("eval-t2i", out, {"rows": len(result.rows), "report": str(result.report_html),
                                        "report_md": str(result.report_md), "csv": str(result.csv),
                                        "text_encoder": encoder_note, "medians": medians,
                                        "generated": result.generated, "note": f"report: {result.report_html}"})
