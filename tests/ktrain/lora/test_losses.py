"""Loss math: min-SNR weights (Hang et al. 2023), offset noise, the weighted MSE."""

from __future__ import annotations

import pytest
import torch

from ktrain.lora.losses import diffusion_loss, min_snr_weights, sample_noise


def test_min_snr_weights_clip_easy_timesteps() -> None:
    snr = torch.tensor([0.5, 5.0, 20.0])
    assert min_snr_weights(snr, 5.0, "epsilon").tolist() == pytest.approx([1.0, 1.0, 0.25])
    assert min_snr_weights(snr, 5.0, "v_prediction").tolist() == pytest.approx([0.5 / 1.5, 5 / 6, 5 / 21])


def test_loss_is_plain_mse_without_gamma_and_weighted_with_it() -> None:
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    pred, target = torch.zeros(2, 4, 2, 2), torch.ones(2, 4, 2, 2)
    pred[1] = 0.5  # per-sample MSE 1.0 and 0.25
    timesteps = torch.tensor([999, 10])  # SNR far below 5, and far above it
    assert diffusion_loss(pred, target, timesteps, scheduler, None, "epsilon").item() == pytest.approx(0.625)
    from diffusers.training_utils import compute_snr

    high = compute_snr(scheduler, timesteps)[1].item()
    expected = (1.0 * 1.0 + 0.25 * 5.0 / high) / 2
    assert diffusion_loss(pred, target, timesteps, scheduler, 5.0, "epsilon").item() == pytest.approx(expected)


def test_offset_noise_shifts_whole_channels() -> None:
    latents = torch.zeros(64, 4, 8, 8)
    plain = sample_noise(latents, torch.Generator().manual_seed(0))
    offset = sample_noise(latents, torch.Generator().manual_seed(0), noise_offset=0.5)
    shift = (offset - plain).flatten(2)
    assert torch.allclose(shift, shift[:, :, :1].expand_as(shift), atol=1e-6)  # one constant per (image, channel)
    assert shift[:, :, 0].std().item() == pytest.approx(0.5, rel=0.2)
