"""`tiny-sdxl`: a Stable Diffusion XL base pipeline with random weights, small enough for CPU unit tests.

It keeps every structural feature of stabilityai/stable-diffusion-xl-base-1.0 that training and
inference code depends on, at the widths of diffusers' own fast SDXL tests:

- two text encoders over the real 49,408-token CLIP vocabulary: a `CLIPTextModel` (CLIP-L's role) and a
  `CLIPTextModelWithProjection` (OpenCLIP bigG's role), whose penultimate hidden states are concatenated
  into the UNet's cross-attention input, so `cross_attention_dim` is the sum of their widths;
- the UNet's `text_time` added conditioning: the second encoder's projected pooled embedding plus six
  sinusoidally embedded micro-conditioning numbers (original size, crop top-left, target size), so
  `projection_class_embeddings_input_dim = 6 * addition_time_embed_dim + projection_dim`
  (SDXL: 6 * 256 + 1280 = 2816);
- the second tokenizer pads with "!" as SDXL's `tokenizer_2` does, the VAE uses SDXL's latent scaling
  factor, and the scheduler is SDXL's Euler schedule with SD's scaled-linear betas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.clip_tokenizer import build_clip_tokenizer
from kdata.models.tiny_parts import (
    SDXL_SCHEDULE,
    SDXL_VAE_SCALING_FACTOR,
    sdxl_tokenizer_2,
    tiny_text_config,
    tiny_unet,
    tiny_vae,
)

SEED = 0
TEXT_ENCODER_WIDTH = 32  # CLIP-L: 768
TEXT_ENCODER_2_WIDTH = 32  # OpenCLIP bigG: 1280 (its projection_dim too)
CROSS_ATTENTION_DIM = TEXT_ENCODER_WIDTH + TEXT_ENCODER_2_WIDTH  # SDXL: 2048
ADDITION_TIME_EMBED_DIM = 8  # SDXL: 256
NUM_TIME_IDS = 6  # original (h, w), crop top-left (top, left), target (h, w)


def _unet(diffusers: Any) -> Any:
    # SDXL uses linear projections in its transformer blocks and more transformer layers deeper down.
    return tiny_unet(
        diffusers,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=ADDITION_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=NUM_TIME_IDS * ADDITION_TIME_EMBED_DIM + TEXT_ENCODER_2_WIDTH,
        cross_attention_dim=CROSS_ATTENTION_DIM,
    )


def _text_encoders(transformers: Any) -> tuple[Any, Any]:
    # Three layers each, so "penultimate hidden state" is a real intermediate layer, not the embeddings.
    # Activations as in SDXL's own configs: CLIP-L uses quick_gelu, OpenCLIP bigG uses gelu.
    first = transformers.CLIPTextModel(tiny_text_config(transformers, TEXT_ENCODER_WIDTH, 3, hidden_act="quick_gelu",
                                                        projection_dim=TEXT_ENCODER_WIDTH))
    second = transformers.CLIPTextModelWithProjection(tiny_text_config(
        transformers, TEXT_ENCODER_2_WIDTH, 3, hidden_act="gelu", projection_dim=TEXT_ENCODER_2_WIDTH))
    return first, second


def build_tiny_sdxl(out_dir: Path) -> None:
    """Build every component under one seed and save the pipeline in diffusers' SDXL folder layout."""
    diffusers = require("diffusers", "diffusers")
    transformers = require("transformers", "transformers")
    with seeded_torch(SEED):
        unet, vae = _unet(diffusers), tiny_vae(diffusers, scaling_factor=SDXL_VAE_SCALING_FACTOR)
        text_encoder, text_encoder_2 = _text_encoders(transformers)
    pipeline = diffusers.StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=build_clip_tokenizer(),
        tokenizer_2=sdxl_tokenizer_2(),
        unet=unet,
        scheduler=diffusers.EulerDiscreteScheduler(**SDXL_SCHEDULE),
        force_zeros_for_empty_prompt=True,
    )
    pipeline.save_pretrained(out_dir)
