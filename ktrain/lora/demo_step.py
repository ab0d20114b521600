"""The ``kcli demo`` step for LoRA: train a tiny LoRA on the demo's Korean captions, then draw from a
Korean prompt with it. Writes both LoRA formats and the generated image with its sidecar under
``NN-lora/``; re-running the demo continues (or, when finished, just re-exports) the same run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdata.demo_context import DemoContext, StepResult

OUT = "70-lora"
CAPTION_COLUMNS = ("caption_ko", "title", "alt_text")  # the caption stage's Korean caption when it ran
PROMPT = "한복을 입은 여인이 한옥 마당에 서 있다"


def demo_text_encoder(ctx: DemoContext, base: str) -> tuple[str | None, str | None]:
    """The Korean encoder another demo step trained, when there is one that fits the base; else None."""
    artifacts = getattr(ctx, "artifacts", None) or {}
    encoder = artifacts.get("text_encoder")
    if not encoder:
        return None, "no trained text encoder in this demo; the base's own is used"
    from kdata.models import resolve_model
    from ktrain.lora.models import text_encoder_dirs

    model_dir, _ = text_encoder_dirs(encoder)
    width = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("hidden_size")
    unet = json.loads((Path(resolve_model(base, "stable-diffusion")) / "unet" / "config.json").read_text())
    if width != unet["cross_attention_dim"]:
        return None, f"text encoder {encoder} is {width} wide, the UNet wants {unet['cross_attention_dim']}; not used"
    return str(encoder), None


def step_lora(ctx: DemoContext) -> StepResult:
    from kdata.manifest import open_manifest
    from ktrain.lora.config import LoraTrainConfig
    from ktrain.lora.generate import GenerateConfig, generate
    from ktrain.lora.loading import LoraSpec
    from ktrain.lora.loop import train_lora
    from ktrain.lora.state import StaleCheckpointError

    manifest = open_manifest(ctx.image_manifest)
    names = set(manifest.schema().names)
    caption_col = next(c for c in CAPTION_COLUMNS if c in names)
    text_encoder, note = demo_text_encoder(ctx, "tiny-sd")
    out = ctx.path(OUT)
    config = LoraTrainConfig(
        manifest=str(manifest.path), out=str(out / "lora"), base="tiny-sd", text_encoder=text_encoder,
        caption_col=caption_col, resolution=64, bucket_step=16, max_steps=4, batch_size=2, learning_rate=1e-2,
        rank=4, checkpointing_steps=2, checkpoints_total_limit=1, validation_steps=0, validation_prompts=[PROMPT],
        validation_inference_steps=2, validation_images=2,
    )
    try:
        result = train_lora(config, resume="latest")
    except StaleCheckpointError:  # the upstream manifest changed since the last demo run: start over
        result = train_lora(config, overwrite=True)
    images = generate(GenerateConfig(prompts=[PROMPT], base="tiny-sd", out=str(out / "generated"), steps=4,
                                     text_encoder=text_encoder, loras=[LoraSpec(config.out, 1.0)]))
    if isinstance(getattr(ctx, "artifacts", None), dict):
        ctx.artifacts["lora"] = Path(config.out)
    summary: dict[str, Any] = {
        "caption_col": caption_col, "text_encoder": text_encoder or "tiny-sd (base)", "steps": result.steps,
        "files": sorted(Path(p).name for p in result.files.values()), "metrics": result.metrics,
        "image": images[0].path, "sidecar": images[0].sidecar, "prompt": PROMPT,
    }
    if note:
        summary["note"] = note
    return StepResult("lora", out, summary)
