"""`tiny-sd`: a Stable Diffusion 1.x pipeline with random weights, small enough for CPU unit tests.

The component shapes follow diffusers' own fast pipeline tests (UNet channels 32/64 with one
cross-attention block each way, a two-level VAE); the text encoder is a 32-wide CLIPTextModel over the
real 49,408-token CLIP vocabulary, and the scheduler carries SD-1.5's training noise schedule, so a
LoRA or distillation loop written against it runs unchanged on runwayml-style checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.clip_tokenizer import build_clip_tokenizer
from kdata.models.tiny_parts import tiny_text_config, tiny_unet, tiny_vae

SEED = 0
CROSS_ATTENTION_DIM = 32
# SD-1.5's scheduler_config.json: scaled-linear betas from 0.00085 to 0.012 over 1000 steps.
SD15_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}


def tiny_sd_text_encoder(transformers: Any) -> Any:
    """SD 1.x's CLIPTextModel in miniature (the latent upscaler's text encoder too)."""
    return transformers.CLIPTextModel(tiny_text_config(transformers, CROSS_ATTENTION_DIM))


def build_tiny_sd(out_dir: Path) -> None:
    """Build every component under one seed and save the pipeline in diffusers' folder layout."""
    diffusers = require("diffusers", "diffusers")
    transformers = require("transformers", "transformers")
    with seeded_torch(SEED):
        unet = tiny_unet(diffusers, cross_attention_dim=CROSS_ATTENTION_DIM)
        vae, text_encoder = tiny_vae(diffusers), tiny_sd_text_encoder(transformers)
    pipeline = diffusers.StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=build_clip_tokenizer(),
        unet=unet,
        scheduler=diffusers.DDIMScheduler(**SD15_SCHEDULE),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(out_dir)
