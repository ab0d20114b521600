"""What the tiny diffusion presets share: diffusers' fast-test shapes and SDXL's published settings.

A two-level UNet (channels 32/64, one cross-attention level each way) and VAE, and CLIP text towers 32 wide
over the real 49,408-token CLIP vocabulary; each preset adds what its family differs by (SDXL's added
conditioning, the refiner's micro-conditions). Built under the caller's seed, so a preset is the same
bytes on every machine.
"""

from __future__ import annotations

from typing import Any

from kdata.models.clip_tokenizer import (
    BOS_TOKEN_ID,
    CLIP_CONTEXT_LENGTH,
    CLIP_VOCAB_SIZE,
    EOS_TOKEN_ID,
    build_clip_tokenizer,
)

# Two VAE levels downsample by 2, so a 64 px image is a 32 x 32 latent: the UNet's sample_size.
IMAGE_SIZE = 64
# SDXL's vae/config.json: the SDXL VAE was trained with a different latent scale than SD 1.x's 0.18215.
SDXL_VAE_SCALING_FACTOR = 0.13025
# SDXL's scheduler_config.json (base and refiner alike): Euler, scaled-linear betas, "leading" spacing.
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


def tiny_unet(diffusers: Any, **family: Any) -> Any:
    """The two-level UNet; ``family`` adds or overrides settings (cross_attention_dim, SDXL's text_time)."""
    return diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=IMAGE_SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        **family,
    )


def tiny_vae(diffusers: Any, **family: Any) -> Any:
    """The two-level VAE (SD 1.x's latent scale unless ``family`` sets ``scaling_factor``)."""
    return diffusers.AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=IMAGE_SIZE,
        **family,
    )


def tiny_text_config(transformers: Any, width: int, layers: int = 2, **family: Any) -> Any:
    """A CLIP text tower's config ``width`` wide over the real CLIP vocabulary and 77 positions."""
    return transformers.CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=width,
        intermediate_size=37,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=CLIP_CONTEXT_LENGTH,
        bos_token_id=BOS_TOKEN_ID,
        eos_token_id=EOS_TOKEN_ID,
        pad_token_id=EOS_TOKEN_ID,
        **family,
    )


def sdxl_tokenizer_2() -> Any:
    """SDXL's tokenizer_2: CLIP's BPE padded with "!" (id 0), as open_clip pads bigG's input."""
    tokenizer = build_clip_tokenizer()
    tokenizer.pad_token = "!"
    return tokenizer
