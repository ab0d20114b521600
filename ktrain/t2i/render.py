"""One image through the three stages of a Stable Diffusion pipeline, each timed on its own.

The rendering is ``kcli generate``'s (:func:`ktrain.lora.generate.render_batch`, at batch 1): text
encoding (``encode_prompt``, with the negative prompt under guidance), denoising (the UNet loop, asked for
latents), VAE decoding, each between ``time.perf_counter`` readings with the GPU synchronised at every
boundary. The seed drives a CPU generator, so an image is the same on any device for the same seed.
:func:`timed` times anything else the same way (the translation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ktrain.t2i.models import Device

T = TypeVar("T")


@dataclass(frozen=True)
class RenderSettings:
    steps: int = 30
    guidance: float = 7.5
    negative_prompt: str = ""
    height: int | None = None  # None: the base's native size
    width: int | None = None


def timed(fn: Callable[[], T], device: Device) -> tuple[T, float]:
    """(result, seconds) of ``fn()``; on a GPU the queued work is waited for before the clock stops."""
    started = time.perf_counter()
    value = fn()
    if device.is_cuda:
        import torch

        torch.cuda.synchronize()
    return value, time.perf_counter() - started


def render(pipe: Any, prompt: str, seed: int, settings: RenderSettings, device: Device,
           finish: Any = None) -> tuple[Any, dict[str, float]]:
    """(PIL image, seconds per stage) for one prompt; ``finish``: ktrain.t2i.stages.PostStages, or plain decoding."""
    from ktrain.lora.generate import GenerateConfig, render_batch

    config = GenerateConfig(prompts=[prompt], base="", out="", negative_prompt=settings.negative_prompt or None,
                            steps=settings.steps, guidance=settings.guidance, height=settings.height,
                            width=settings.width, batch_size=1)
    images, seconds = render_batch(pipe, config, [(prompt, seed)], device.name, finish)
    return images[0], seconds
