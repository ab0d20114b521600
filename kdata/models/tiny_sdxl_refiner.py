"""`tiny-sdxl-refiner`: an SDXL refiner (img2img) pipeline with random weights, for CPU tests.

The layout is stabilityai/stable-diffusion-xl-refiner-1.0's (its model_index.json): only the second text
encoder (OpenCLIP bigG there, a `CLIPTextModelWithProjection`) and its tokenizer, no first encoder; a UNet
with `addition_embed_type="text_time"` whose added conditioning is the pooled text embedding plus five
micro-conditions (original size, crop top-left, aesthetic score), hence `requires_aesthetics_score=True`;
an SDXL-style VAE (scaling factor 0.13025) and the Euler scheduler. Shapes follow diffusers' own fast
SDXL img2img tests; the tokenizer is the real CLIP BPE padded with "!" as bigG's tokenizer_2 is, so English
prompts tokenize as on the real model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.tiny_parts import (
    SDXL_SCHEDULE,
    SDXL_VAE_SCALING_FACTOR,
    sdxl_tokenizer_2,
    tiny_text_config,
    tiny_unet,
    tiny_vae,
)

SEED = 0
TEXT_WIDTH = 32  # the refiner attends to text_encoder_2 alone: cross_attention_dim == its hidden size
TIME_EMBED_DIM = 8  # addition_time_embed_dim: each of the 5 micro-conditions is embedded this wide


def _unet(diffusers: Any) -> Any:
    return tiny_unet(
        diffusers,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED_DIM,
        transformer_layers_per_block=(1, 2),
        # 5 micro-conditions x 8 + the pooled text embedding (32): the refiner's 5 x 256 + 1280 in miniature.
        projection_class_embeddings_input_dim=5 * TIME_EMBED_DIM + TEXT_WIDTH,
        cross_attention_dim=TEXT_WIDTH,
    )


def _text_encoder_2(transformers: Any) -> Any:
    # bigG's activation is gelu (CLIP ViT-L's is quick_gelu).
    return transformers.CLIPTextModelWithProjection(
        tiny_text_config(transformers, TEXT_WIDTH, projection_dim=TEXT_WIDTH, hidden_act="gelu"))


def build_tiny_sdxl_refiner(out_dir: Path) -> None:
    """Build every component under one seed; save in the refiner's diffusers layout (no text_encoder/)."""
    diffusers = require("diffusers", "diffusers")
    transformers = require("transformers", "transformers")
    with seeded_torch(SEED):
        unet, vae = _unet(diffusers), tiny_vae(diffusers, scaling_factor=SDXL_VAE_SCALING_FACTOR)
        text_encoder_2 = _text_encoder_2(transformers)
    tokenizer_2 = sdxl_tokenizer_2()
    pipeline = diffusers.StableDiffusionXLImg2ImgPipeline(
        vae=vae,
        text_encoder=None,
        text_encoder_2=text_encoder_2,
        tokenizer=None,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=diffusers.EulerDiscreteScheduler(**SDXL_SCHEDULE),
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,  # the refiner's model_index.json says false
    )
    pipeline.save_pretrained(out_dir)
