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
from kdata.models.clip_tokenizer import (
    BOS_TOKEN_ID,
    CLIP_CONTEXT_LENGTH,
    CLIP_VOCAB_SIZE,
    EOS_TOKEN_ID,
    build_clip_tokenizer,
)

SEED = 0
# Two VAE levels downsample by 2, so a 64 px image is a 32 x 32 latent: the UNet's sample_size.
IMAGE_SIZE = 64
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


def _unet(diffusers: Any) -> Any:
    return diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=IMAGE_SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_ATTENTION_DIM,
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
    )


def _text_encoder(transformers: Any) -> Any:
    config = transformers.CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=CROSS_ATTENTION_DIM,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=CLIP_CONTEXT_LENGTH,
        bos_token_id=BOS_TOKEN_ID,
        eos_token_id=EOS_TOKEN_ID,
        pad_token_id=EOS_TOKEN_ID,
    )
    return transformers.CLIPTextModel(config)


def build_tiny_sd(out_dir: Path) -> None:
    """Build every component under one seed and save the pipeline in diffusers' folder layout."""
    diffusers = require("diffusers", "diffusers")
    transformers = require("transformers", "transformers")
    with seeded_torch(SEED):
        unet, vae, text_encoder = _unet(diffusers), _vae(diffusers), _text_encoder(transformers)
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
