"""Stages after the base's denoising: a x2 latent upscaler, then an SDXL refiner pass, each timed on its own.

Order, and why: the upscaler (``StableDiffusionLatentUpscalePipeline``, e.g. stabilityai/sd-x2-latent-upscaler)
reads Stable Diffusion 1.x latents, so it runs on the base's latents before any decoding (no VAE round trip);
its output is decoded by the base's VAE, whose latent space it shares. The refiner
(``StableDiffusionXLImg2ImgPipeline``, e.g. stabilityai/stable-diffusion-xl-refiner-1.0) has its own VAE and
latent space (scaling 0.13025, not 0.18215), so it takes the decoded image, as the seed demo did: an img2img
pass at ``strength`` with a fixed refine prompt and negative prompt.

Which text the refiner reads: its only encoder is OpenCLIP bigG, which knows no Korean. A prompt with
Hangul is therefore never given to it; it reads the English prompt when the pipeline has one (the
translate pipeline's translation, english-reference's English, an English prompt given to ``generate``),
followed by the refine prompt, and the refine prompt alone otherwise (the Korean-encoder path). The
Korean encoder steers the composition at the base; the refiner only sharpens at low strength.

Timings land in the batch's ``timings`` dict as ``upscale``, ``decode`` and ``refine``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from kdata.errors import ConfigError
from kdata.textnorm import has_hangul
from ktrain.lora.generate import decode_latents

DEFAULT_REFINE_PROMPT = "high quality, detailed, sharp focus"
DEFAULT_REFINE_NEGATIVE_PROMPT = "low quality, blurry, deformed"
DEFAULT_REFINER_STRENGTH = 0.3  # SDXL's refiner card suggests a light img2img pass; 0.3 keeps the composition
DEFAULT_UPSCALER_STEPS = 20  # diffusers' documented use of sd-x2-latent-upscaler: 20 steps, guidance 0


@dataclass(frozen=True)
class StagesConfig:
    refiner: str | None = None  # SDXL img2img pipeline: diffusers folder, Hub id or tiny-sdxl-refiner
    refiner_strength: float = DEFAULT_REFINER_STRENGTH
    refiner_steps: int | None = None  # None: the base's steps
    refine_prompt: str = DEFAULT_REFINE_PROMPT
    refine_negative_prompt: str = DEFAULT_REFINE_NEGATIVE_PROMPT
    upscaler: str | None = None  # x2 latent upscaler: diffusers folder, Hub id or tiny-latent-upscaler
    upscaler_steps: int = DEFAULT_UPSCALER_STEPS

    def __post_init__(self) -> None:
        if not 0.0 < self.refiner_strength <= 1.0:
            raise ConfigError(f"--refiner-strength must be in (0, 1], got {self.refiner_strength}")
        if self.refiner_steps is not None and self.refiner_steps < 1:
            raise ConfigError(f"--refiner-steps must be at least 1, got {self.refiner_steps}")
        if self.upscaler_steps < 1:
            raise ConfigError(f"--upscaler-steps must be at least 1, got {self.upscaler_steps}")

    @property
    def active(self) -> bool:
        return bool(self.refiner or self.upscaler)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def refiner_prompt(prompt: str, refine_prompt: str) -> str:
    """What the refiner's English-only encoder reads for ``prompt`` (see the module docstring)."""
    if has_hangul(prompt) or not prompt.strip():
        return refine_prompt
    return f"{prompt.strip()}, {refine_prompt}" if refine_prompt else prompt.strip()


def refine_steps(steps: int, strength: float) -> int:
    """Steps to ask for so that img2img runs at least one: it runs ``int(steps * strength)`` of them."""
    return max(steps, math.ceil(1.0 / strength))


STAGE_FIXES = {
    "refiner": "give --refiner a diffusers folder, a Hub id that is cached or reachable "
               "(stabilityai/stable-diffusion-xl-refiner-1.0) or tiny-sdxl-refiner",
    "upscaler": "give --upscaler a diffusers folder, a Hub id that is cached or reachable "
                "(stabilityai/sd-x2-latent-upscaler) or tiny-latent-upscaler",
}


def check_stages(config: StagesConfig) -> dict[str, str]:
    """Where each configured stage model loads from (before any base is loaded); ConfigError naming the option."""
    from ktrain.t2i.locate import REFINER, UPSCALER, NotFound, locate

    found: dict[str, str] = {}
    for kind, spec, model_kind in (("refiner", config.refiner, REFINER), ("upscaler", config.upscaler, UPSCALER)):
        if not spec:
            continue
        try:
            found[kind] = locate(spec, model_kind)
        except NotFound as exc:
            raise ConfigError(f"--{kind} {spec}: {exc}; {STAGE_FIXES[kind]}") from None
    return found


def check_base(config: StagesConfig, pipe: Any) -> None:
    """Refuse the x2 latent upscaler after an SDXL base: it was trained on SD 1.x VAE latents (scaling 0.18215)
    of 512 px images, while an SDXL base's latents come from another VAE (scaling 0.13025) at 1024 px; fed
    to the upscaler they would be read as the wrong latent space (diffusers does not convert between them)."""
    if config.upscaler and getattr(pipe, "text_encoder_2", None) is not None:
        raise ConfigError(f"--upscaler {config.upscaler}: the x2 latent upscaler reads SD 1.x latents and cannot "
                          "follow an SDXL base (another VAE's latent space); drop --upscaler or use an SD 1.x base")


def load_stage_pipeline(spec: str, kind: str, device: str, dtype: Any) -> Any:
    """The refiner or upscaler pipeline from a preset name, a diffusers folder or a Hub id, on ``device``."""
    import diffusers

    from kdata.models.presets import PRESETS, ensure_preset
    from kdata.models.resolve import load_errors

    classes = {"refiner": diffusers.StableDiffusionXLImg2ImgPipeline,
               "upscaler": diffusers.StableDiffusionLatentUpscalePipeline}
    source = str(ensure_preset(spec)) if spec in PRESETS.names() else spec
    with load_errors(spec, kind):
        pipe = classes[kind].from_pretrained(source, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


class PostStages:
    """A ``render_batch`` finisher: base latents in, PIL images out, through the configured stages.

    The refiner and upscaler load on first use, on the base pipeline's device and dtype, and are kept.
    ``steps`` is the base's step count (the refiner's default).
    """

    def __init__(self, config: StagesConfig, steps: int = 30) -> None:
        self.config, self.steps = config, steps
        self._refiner: Any = None
        self._upscaler: Any = None

    def load(self, device: str, dtype: Any) -> PostStages:
        if self.config.refiner and self._refiner is None:
            self._refiner = load_stage_pipeline(self.config.refiner, "refiner", device, dtype)
        if self.config.upscaler and self._upscaler is None:
            self._upscaler = load_stage_pipeline(self.config.upscaler, "upscaler", device, dtype)
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def check(self, pipe: Any) -> None:
        """Refuse, before any rendering, stages that cannot follow this base."""
        check_base(self.config, pipe)

    def __call__(self, pipe: Any, latents: Any, batch: list[tuple[str, int]], timings: dict[str, float],
                 refine: bool = True, upscale: bool = True) -> list[Any]:
        """Upscale (if set and ``upscale``), decode with the base's VAE, refine (if set and ``refine``), each timed."""
        from ktrain.t2i.models import Device
        from ktrain.t2i.render import timed

        check_base(self.config, pipe)
        device = Device(pipe.device.type, pipe.unet.dtype)
        self.load(device.name, device.dtype)
        seeds = [seed for _, seed in batch]
        if self._upscaler is not None and upscale:
            latents, timings["upscale"] = timed(lambda: self._upscale(latents, seeds), device)
        images, timings["decode"] = timed(lambda: decode_latents(pipe, latents), device)
        if self._refiner is not None and refine:
            images, timings["refine"] = timed(lambda: self._refine(images, [p for p, _ in batch], seeds), device)
        return images

    def _upscale(self, latents: Any, seeds: list[int]) -> Any:
        import torch

        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        # guidance 0: the upscaler then reads an empty prompt (diffusers' documented use), so language is moot.
        return self._upscaler(prompt=[""] * len(seeds), image=latents, num_inference_steps=self.config.upscaler_steps,
                              guidance_scale=0.0, generator=generators, output_type="latent").images

    def _refine(self, images: list[Any], prompts: list[str], seeds: list[int]) -> list[Any]:
        import torch

        config = self.config
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        steps = refine_steps(config.refiner_steps or self.steps, config.refiner_strength)
        return self._refiner(prompt=[refiner_prompt(p, config.refine_prompt) for p in prompts],
                             negative_prompt=[config.refine_negative_prompt] * len(prompts), image=images,
                             strength=config.refiner_strength, num_inference_steps=steps, generator=generators,
                             output_type="pil").images
