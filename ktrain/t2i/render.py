"""One image through the three stages of a Stable Diffusion pipeline, each timed on its own.

Text encoding (``encode_prompt``, the positive and, with guidance, the negative prompt), denoising (the
UNet loop, asked for latents) and VAE decoding. ``time.perf_counter`` around each stage; on a GPU the
device is synchronised before each reading, since CUDA work is queued asynchronously and the clock would
otherwise stop before the work does. The seed drives a CPU generator, so an image is the same on any
device for the same seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ktrain.t2i.models import Device

STAGES = ("text_encode", "denoise", "decode")


@dataclass(frozen=True)
class RenderSettings:
    steps: int = 30
    guidance: float = 7.5
    negative_prompt: str = ""
    height: int | None = None  # None: the base's native size
    width: int | None = None


class StageClock:
    """Seconds per named stage; ``lap(name)`` closes the stage that began at the previous lap."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.seconds: dict[str, float] = {}
        self._started = self._now()

    def _now(self) -> float:
        if self.device.is_cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def restart(self) -> None:
        self._started = self._now()

    def lap(self, name: str) -> None:
        now = self._now()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._started
        self._started = now


def render(pipe: Any, prompt: str, seed: int, settings: RenderSettings, device: Device,
           clock: StageClock | None = None) -> tuple[Any, dict[str, float]]:
    """(PIL image, seconds per stage) for one prompt; a clock passed in may already hold earlier stages."""
    import torch

    clock = clock or StageClock(device)
    cfg_on = settings.guidance > 1.0  # guidance 1 is the plain conditional prediction: no negative pass
    with torch.inference_mode():
        clock.restart()
        embeds, negative = pipe.encode_prompt(prompt, device.name, 1, cfg_on,
                                              negative_prompt=settings.negative_prompt or None)
        clock.lap("text_encode")
        generator = torch.Generator("cpu").manual_seed(seed)
        latents = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, num_inference_steps=settings.steps,
                       guidance_scale=settings.guidance, generator=generator, height=settings.height,
                       width=settings.width, output_type="latent").images
        clock.lap("denoise")
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
        image = pipe.image_processor.postprocess(decoded, output_type="pil")[0]
        clock.lap("decode")
    return image, dict(clock.seconds)
