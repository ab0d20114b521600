"""Validation during training: a loss on fixed noise, and Korean prompts rendered to a sample grid.

The training loss jumps with every step's random timesteps, so progress is judged on a validation loss
that draws nothing at random: the same few images, the same timesteps spread over the schedule, the same
noise, every time. The sample grid renders each validation prompt with one fixed seed, so grids from
different steps differ only by what the LoRA learned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ktrain.lora.batches import step_generator
from ktrain.lora.cache import LatentSource, TextSource
from ktrain.lora.losses import training_target
from ktrain.lora.sdxl import unet_conditioning

TIMESTEPS_PER_IMAGE = 4


def repeat_batch(tensor: Any, times: int) -> Any:
    """``tensor`` stacked ``times`` times along the batch (block after block, as the timesteps are laid out)."""
    return tensor.repeat(times, *([1] * (tensor.dim() - 1)))


def repeat_conditioning(extra: dict[str, Any], times: int) -> dict[str, Any]:
    """SDXL's added conditioning for the batch repeated ``times`` times (nothing for SD 1.x)."""
    if not extra:
        return {}
    return {"added_cond_kwargs": {k: repeat_batch(v, times) for k, v in extra["added_cond_kwargs"].items()}}


def validation_indices(examples: list[Any], count: int) -> list[int]:
    """The first ``count`` examples by key within the most common bucket (one batch, one image size)."""
    by_bucket: dict[tuple[int, int], list[int]] = {}
    for index, example in enumerate(examples):
        by_bucket.setdefault(example.bucket, []).append(index)
    largest = max(by_bucket.values(), key=len)
    return sorted(largest, key=lambda i: examples[i].key)[:count]


def validation_loss(unet: Any, latents: LatentSource, texts: TextSource, examples: list[Any], indices: list[int],
                    noise_scheduler: Any, prediction_type: str, seed: int) -> float:
    """Mean squared error of the model's prediction on fixed (image, timestep, noise) triples."""
    import torch

    if not indices:
        return float("nan")
    total_steps = noise_scheduler.config.num_train_timesteps
    generator = step_generator(seed, -1, 0, 0)  # one fixed stream, apart from every training step's
    with torch.no_grad():
        clean = latents.sample(indices, generator)
        states, pooled = texts.encode_pair([examples[i].caption for i in indices])
        extra = unet_conditioning([examples[i] for i in indices], pooled, clean.dtype)  # SDXL: pooled + time ids
        # Every (image, timestep) pair in one UNet call: the same draws and the same mean as one call per
        # timestep, in a quarter of the calls (a small model's step is mostly per-call overhead on CPU).
        steps = [int((k + 0.5) * total_steps / TIMESTEPS_PER_IMAGE) for k in range(TIMESTEPS_PER_IMAGE)]
        noise = torch.cat([torch.randn(clean.shape, generator=generator) for _ in steps]).to(clean.device, clean.dtype)
        timesteps = torch.tensor(steps, dtype=torch.long, device=clean.device).repeat_interleave(len(indices))
        clean = repeat_batch(clean, len(steps))
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)
        pred = unet(noisy, timesteps, repeat_batch(states, len(steps)), **repeat_conditioning(extra, len(steps))).sample
        target = training_target(noise_scheduler, clean, noise, timesteps, prediction_type)
        return float(torch.nn.functional.mse_loss(pred.float(), target.float()).item())


def render_samples(components: Any, unet: Any, text_encoders: list[Any], prompts: list[str], seed: int, steps: int,
                   guidance: float, size: int, path: Path) -> Path:
    """Render each prompt once with ``seed`` and save the images side by side as one PNG.

    ``text_encoders``: the (possibly LoRA-carrying) first encoder and SDXL's second (None for SD 1.x)."""
    import torch
    from diffusers.utils import make_image_grid

    pipe = sample_pipeline(components, unet, text_encoders)
    pipe.set_progress_bar_config(disable=True)
    generators = [torch.Generator("cpu").manual_seed(seed) for _ in prompts]
    with torch.random.fork_rng(devices=[]):
        images = pipe(list(prompts), num_inference_steps=steps, guidance_scale=guidance, generator=generators,
                      height=size, width=size).images
    path.parent.mkdir(parents=True, exist_ok=True)
    make_image_grid(images, rows=1, cols=len(images)).save(path)
    return path


def sample_pipeline(components: Any, unet: Any, text_encoders: list[Any]) -> Any:
    """A pipeline over the training modules, with DDIM on the base's schedule (SD 1.x or SDXL)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    scheduler = DDIMScheduler.from_config(components.noise_scheduler.config)
    if components.is_sdxl:
        return StableDiffusionXLPipeline(
            vae=components.vae, text_encoder=text_encoders[0], text_encoder_2=text_encoders[1],
            tokenizer=components.tokenizer, tokenizer_2=components.tokenizer_2, unet=unet, scheduler=scheduler,
        )
    return StableDiffusionPipeline(
        vae=components.vae, text_encoder=text_encoders[0], tokenizer=components.tokenizer, unet=unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
