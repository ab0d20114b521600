"""Tiny settings for the encoder trainer's tests: seconds of training on tiny-sd."""

from __future__ import annotations

from typing import Any

# Tiny-sd is 32 wide; the UNet terms run on 8 x 8 latents (the UNet is convolutional) to stay fast.
TINY: dict[str, Any] = {
    "teacher": "tiny-sd", "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 2, "vocab_size": 2000,
    "min_frequency": 1, "unet_latent_size": 8, "eval_latents": 1, "eval_timesteps": [200, 600], "log_every": 1,
}
