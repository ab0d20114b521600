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
from kdata.models.clip_tokenizer import (
    BOS_TOKEN_ID,
    CLIP_CONTEXT_LENGTH,
    CLIP_VOCAB_SIZE,
    EOS_TOKEN_ID,
    build_clip_tokenizer,
)

SEED = 0
IMAGE_SIZE = 64
TEXT_WIDTH = 32  # the refiner attends to text_encoder_2 alone: cross_attention_dim == its hidden size
TIME_EMBED_DIM = 8  # addition_time_embed_dim: each of the 5 micro-conditions is embedded this wide
# SDXL's scheduler_config.json (refiner and base alike): Euler, scaled-linear betas, "leading" spacing.
SDXL_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "prediction_type": "epsilon",
}
SDXL_VAE_SCALING = 0.13025  # the SDXL VAE's scaling_factor (SD 1.x's is 0.18215)


def _unet(diffusers: Any) -> Any:
    return diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=IMAGE_SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED_DIM,
        transformer_layers_per_block=(1, 2),
        # 5 micro-conditions x 8 + the pooled text embedding (32): the refiner's 5 x 256 + 1280 in miniature.
        projection_class_embeddings_input_dim=5 * TIME_EMBED_DIM + TEXT_WIDTH,
        cross_attention_dim=TEXT_WIDTH,
    )


def _vae(diffusers: Any) -> Any:
    return diffusers.AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=IMAGE_SIZE,
        scaling_factor=SDXL_VAE_SCALING,
    )


def _text_encoder_2(transformers: Any) -> Any:
    config = transformers.CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=TEXT_WIDTH,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=CLIP_CONTEXT_LENGTH,
        projection_dim=TEXT_WIDTH,
        hidden_act="gelu",  # bigG's activation (CLIP ViT-L's is quick_gelu)
        bos_token_id=BOS_TOKEN_ID,
        eos_token_id=EOS_TOKEN_ID,
        pad_token_id=EOS_TOKEN_ID,
    )
    return transformers.CLIPTextModelWithProjection(config)


def build_tiny_sdxl_refiner(out_dir: Path) -> None:
    """Build every component under one seed; save in the refiner's diffusers layout (no text_encoder/)."""
    diffusers = require("diffusers", "diffusers")
    transformers = require("transformers", "transformers")
    with seeded_torch(SEED):
        unet, vae, text_encoder_2 = _unet(diffusers), _vae(diffusers), _text_encoder_2(transformers)
    tokenizer_2 = build_clip_tokenizer()
    tokenizer_2.pad_token = "!"  # open_clip pads bigG's input with "!" (id 0); SDXL's tokenizer_2 keeps that
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
