"""The diffusion training loss as pure functions: noise, targets, min-SNR weighting.

- Offset noise (Guttenberg 2023, "Diffusion with Offset Noise"): adding a per-channel constant to the
  noise lets the model learn to shift an image's overall brightness, which plain i.i.d. noise hides.
- Min-SNR-gamma weighting (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting
  Strategy", ICCV): each timestep's loss is weighted by min(SNR, gamma) / SNR for epsilon prediction
  (min(SNR, gamma) / (SNR + 1) for v prediction), so the easy low-noise timesteps stop dominating the
  gradient; the paper's gamma = 5 converges about 3.4x faster.
"""

from __future__ import annotations

from typing import Any


def sample_noise(latents: Any, generator: Any, noise_offset: float = 0.0) -> Any:
    import torch

    shape = latents.shape
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    if noise_offset:
        noise = noise + noise_offset * torch.randn((shape[0], shape[1], 1, 1), generator=generator)
    return noise.to(latents.device, latents.dtype)


def sample_timesteps(batch: int, num_train_timesteps: int, generator: Any, device: Any) -> Any:
    import torch

    return torch.randint(0, num_train_timesteps, (batch,), generator=generator).to(device)


def training_target(noise_scheduler: Any, latents: Any, noise: Any, timesteps: Any, prediction_type: str) -> Any:
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return noise_scheduler.get_velocity(latents, noise, timesteps)
    raise ValueError(f"unsupported prediction type {prediction_type!r}")


def min_snr_weights(snr: Any, gamma: float, prediction_type: str) -> Any:
    """Per-sample loss weights min(SNR, gamma) / SNR (epsilon) or min(SNR, gamma) / (SNR + 1) (v)."""
    import torch

    clipped = torch.clamp(snr, max=gamma)
    return clipped / (snr + 1) if prediction_type == "v_prediction" else clipped / snr


def diffusion_loss(
    model_pred: Any, target: Any, timesteps: Any, noise_scheduler: Any, gamma: float | None, prediction_type: str
) -> Any:
    """Mean squared error per sample, weighted by min-SNR when ``gamma`` is set, averaged over the batch."""
    import torch.nn.functional as F
    from diffusers.training_utils import compute_snr

    per_sample = F.mse_loss(model_pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    if gamma:
        snr = compute_snr(noise_scheduler, timesteps)
        per_sample = per_sample * min_snr_weights(snr, gamma, prediction_type).to(per_sample.device)
    return per_sample.mean()
