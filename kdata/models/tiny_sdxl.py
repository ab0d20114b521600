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
TEXT_ENCODER_WIDTH = 32  # CLIP-L: 768
TEXT_ENCODER_2_WIDTH = 32  # OpenCLIP bigG: 1280 (its projection_dim too)
CROSS_ATTENTION_DIM = TEXT_ENCODER_WIDTH + TEXT_ENCODER_2_WIDTH  # SDXL: 2048
ADDITION_TIME_EMBED_DIM = 8  # SDXL: 256
NUM_TIME_IDS = 6  # original (h, w), crop top-left (top, left), target (h, w)
# SDXL's vae/config.json: the SDXL VAE was trained with a different latent scale than SD 1.x's 0.18215.
SDXL_VAE_SCALING_FACTOR = 0.13025
# SDXL base's scheduler_config.json (EulerDiscreteScheduler), minus fields equal to diffusers' defaults.
SDXL_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "prediction_type": "epsilon",
    "interpolation_type": "linear",
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
        # SDXL uses linear projections in its transformer blocks and more transformer layers deeper down.
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=ADDITION_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=NUM_TIME_IDS * ADDITION_TIME_EMBED_DIM + TEXT_ENCODER_2_WIDTH,
        cross_attention_dim=CROSS_ATTENTION_DIM,
        norm_num_groups=32,
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
        scaling_factor=SDXL_VAE_SCALING_FACTOR,
    )


def _text_config(transformers: Any, width: int, layers: int, act: str) -> Any:
    return transformers.CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=width,
        intermediate_size=37,
        projection_dim=width,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=CLIP_CONTEXT_LENGTH,
        hidden_act=act,
        bos_token_id=BOS_TOKEN_ID,
        eos_token_id=EOS_TOKEN_ID,
        pad_token_id=EOS_TOKEN_ID,
    )


def _text_encoders(transformers: Any) -> tuple[Any, Any]:
    # Three layers each, so "penultimate hidden state" is a real intermediate layer, not the embeddings.
    # Activations as in SDXL's own configs: CLIP-L uses quick_gelu, OpenCLIP bigG uses gelu.
    first = transformers.CLIPTextModel(_text_config(transformers, TEXT_ENCODER_WIDTH, 3, "quick_gelu"))
    second = transformers.CLIPTextModelWithProjection(_text_config(transformers, TEXT_ENCODER_2_WIDTH, 3, "gelu"))
    return first, second


def _tokenizer_2() -> Any:
    """SDXL's tokenizer_2 is CLIP's BPE padded with "!" (id 0), as open_clip pads bigG's input."""
    tokenizer = build_clip_tokenizer()
    tokenizer.pad_token = "!"
    return tokenizer


def build_tiny_sdxl(out_dir: Path) -> None:
    """Build every component under one seed and save the pipeline in diffusers' SDXL folder layout."""
    diffusers = require("diffusers", "diffusers")
    transformers = require("transformers", "transformers")
    with seeded_torch(SEED):
        unet, vae = _unet(diffusers), _vae(diffusers)
        text_encoder, text_encoder_2 = _text_encoders(transformers)
    pipeline = diffusers.StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=build_clip_tokenizer(),
        tokenizer_2=_tokenizer_2(),
        unet=unet,
        scheduler=diffusers.EulerDiscreteScheduler(**SDXL_SCHEDULE),
        force_zeros_for_empty_prompt=True,
    )
    pipeline.save_pretrained(out_dir)
