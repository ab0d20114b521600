"""`tiny-latent-upscaler`: a x2 latent upscaler pipeline with random weights, for CPU tests.

The layout is stabilityai/sd-x2-latent-upscaler's (`StableDiffusionLatentUpscalePipeline`): a
UNet2DConditionModel in its k-diffusion variant (K-blocks, no mid block, Fourier time embedding, 1x1
conv in/out) that reads 8 channels (the noisy 4-channel latent beside the low-resolution latent) and
writes 5 (the fifth, a variance channel, is dropped by the pipeline), conditioned through
`time_cond_proj_dim` on 128 noise-level features plus the text encoder's pooled output; a CLIP text
encoder; the VAE; Euler with `prediction_type="sample"`. Shapes follow diffusers' fast tests.

The upscaler works on Stable Diffusion 1.x latents, so its VAE is tiny-sd's own, copied from that
preset: a tiny-sd latent upscales and decodes exactly as an SD latent does with the real pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.tiny_parts import tiny_vae
from kdata.models.tiny_sd import tiny_sd_text_encoder

SEED = 0
TEXT_WIDTH = 32
NOISE_LEVEL_FEATURES = 128  # the pipeline's 64 ones + 64 zeros noise-level embedding
UPSCALER_SCHEDULE: dict[str, Any] = {"num_train_timesteps": 1000, "prediction_type": "sample"}


def _unet(diffusers: Any) -> Any:
    return diffusers.UNet2DConditionModel(
        act_fn="gelu",
        attention_head_dim=8,
        norm_num_groups=None,
        block_out_channels=[32, 32, 64, 64],
        time_cond_proj_dim=NOISE_LEVEL_FEATURES + TEXT_WIDTH,
        conv_in_kernel=1,
        conv_out_kernel=1,
        cross_attention_dim=TEXT_WIDTH,
        down_block_types=("KDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D"),
        in_channels=8,
        mid_block_type=None,
        only_cross_attention=False,
        out_channels=5,
        resnet_time_scale_shift="scale_shift",
        time_embedding_type="fourier",
        timestep_post_act="gelu",
        up_block_types=("KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KUpBlock2D"),
    )


def build_tiny_latent_upscaler(out_dir: Path) -> None:
    """UNet and text encoder from one seed, tiny-sd's VAE and tokenizer; saved in diffusers' layout."""
    diffusers = require("diffusers", "diffusers")
    transformers = require("transformers", "transformers")
    from kdata.models.presets import ensure_preset  # a preset built from another: import at call time

    sd = ensure_preset("tiny-sd")
    with seeded_torch(SEED):
        unet, text_encoder, vae = _unet(diffusers), tiny_sd_text_encoder(transformers), tiny_vae(diffusers)
    # tiny-sd's weights in a fresh module: a loaded one would record its home's path in the saved config,
    # and two homes must build identical files.
    vae.load_state_dict(diffusers.AutoencoderKL.from_pretrained(sd / "vae").state_dict())
    pipeline = diffusers.StableDiffusionLatentUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=transformers.AutoTokenizer.from_pretrained(sd / "tokenizer"),
        unet=unet,
        scheduler=diffusers.EulerDiscreteScheduler(**UPSCALER_SCHEDULE),
    )
    pipeline.save_pretrained(out_dir)
