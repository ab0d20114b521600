"""``kcli generate``: images from (Korean) prompts with a base model, a text encoder and LoRAs.

Each image gets its own seed (``seed``, ``seed + 1``, ... in prompt order), so any one image can be
remade alone, and a JSON sidecar beside it: the prompt, negative prompt, seed, sampler settings, every
model's id, path and fingerprint (base, text encoder, each LoRA with its weight), and the time its batch
spent in each stage — text encoding, denoising, VAE decoding — and the prompt's token count.

Prompts longer than the text encoder's 75 tokens are encoded in chunks (:mod:`ktrain.lora.prompt_embeds`),
not cut; prompts whose chunk counts differ are denoised in separate UNet calls, so each image is the same
whatever batch it was rendered in.

An SDXL base (``StableDiffusionXLPipeline``) is rendered the same way: both encoders' penultimate states
side by side and the second encoder's pooled embedding, chunked alike
(:func:`ktrain.lora.prompt_embeds.encode_prompts_sdxl`); the pipeline adds the size/crop ids of an
uncropped image at the requested size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kdata import __version__
from kdata.atomic import atomic_path, write_json_atomic
from kdata.config import AtLeastOne
from kdata.errors import ConfigError
from kdata.progress import ProgressCallback, ProgressEvent, notify
from ktrain.lora.loading import LoraSpec, load_loras, load_pipeline
from ktrain.lora.prompt_embeds import PromptEmbeds, count_prompt_tokens, encode_pipeline_prompts


@dataclass
class GenerateConfig:
    prompts: list[str]
    base: str
    out: str
    text_encoder: str | None = None
    variant: str | None = None  # weight files of this variant (fp16) where the base has them
    base_config: str | None = None  # a single-file base's component configs: a diffusers folder, Hub id or preset
    loras: list[LoraSpec] = field(default_factory=list)
    negative_prompt: str | None = None
    seed: int = 0
    images_per_prompt: AtLeastOne = 1
    steps: AtLeastOne = 30
    guidance: float = 7.5
    height: AtLeastOne | None = None  # None: the base's native size
    width: AtLeastOne | None = None
    batch_size: AtLeastOne = 4

    def __post_init__(self) -> None:
        if not self.prompts or not all(p.strip() for p in self.prompts):
            raise ConfigError("give at least one non-empty prompt")
        for name in ("images_per_prompt", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")


# Turns a batch's base latents into images, timing its own stages into the dict: ``decode`` by default;
# ktrain.t2i.stages.PostStages adds a latent upscaler before it and a refiner after it.
Finisher = Callable[[Any, Any, list[tuple[str, int]], dict[str, float]], list[Any]]


@dataclass
class GeneratedImage:
    path: str
    sidecar: str
    prompt: str
    seed: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage of the image's batch


def generate(config: GenerateConfig, progress: ProgressCallback | None = None,
             finish: Finisher | None = None) -> list[GeneratedImage]:
    """Render every (prompt, seed) in batches of ``batch_size``; a ``generate`` progress event after each batch.

    ``finish`` replaces plain VAE decoding (see :data:`Finisher`); its ``to_dict()``, when it has one, goes
    into every sidecar as ``stages``.
    """
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32  # fp32 on CPU: no fast half matmuls there
    pipe, refs = load_pipeline(config.base, config.text_encoder, device, dtype, config.variant, config.base_config)
    if hasattr(finish, "check"):
        finish.check(pipe)  # e.g. a stage that cannot follow this base: refused before any rendering
    loras = load_loras(pipe, config.loras)
    jobs = [(p, config.seed + i * config.images_per_prompt + k)
            for i, p in enumerate(config.prompts) for k in range(config.images_per_prompt)]
    out = Path(config.out)
    record = {"base": refs["base"].to_dict(), "text_encoder": refs["text_encoder"].to_dict(), "loras": loras,
              "scheduler": type(pipe.scheduler).__name__, "device": device,
              "dtype": str(dtype).removeprefix("torch."), "kcli_version": __version__}
    if hasattr(finish, "to_dict"):
        record["stages"] = finish.to_dict()
    results: list[GeneratedImage] = []
    for start in range(0, len(jobs), config.batch_size):
        batch = jobs[start : start + config.batch_size]
        images, timings = render_batch(pipe, config, batch, device, finish)
        for offset, ((prompt, seed), image) in enumerate(zip(batch, images)):
            sidecar = {**record, "prompt_tokens": count_prompt_tokens(pipe, prompt).to_dict()}
            results.append(save_image(out, start + offset, prompt, seed, image, config, sidecar, timings, len(batch)))
        notify(progress, ProgressEvent("generate", len(results), len(jobs), "images"))
    return results


def render_batch(pipe: Any, config: GenerateConfig, batch: list[tuple[str, int]], device: str,
                 finish: Finisher | None = None) -> tuple[list, dict]:
    """One batch through the stages, each timed: encode the prompts, denoise, decode (or ``finish``) the latents."""
    import torch

    timings: dict[str, float] = {}
    with torch.inference_mode():
        started = time.perf_counter()
        text = encode_pipeline_prompts(pipe, [p for p, _ in batch], config.negative_prompt, device,
                                       guidance=config.guidance > 1.0)
        timings["text_encode"] = _lap(started, device)
        started = time.perf_counter()
        latents = denoise(pipe, config, text, [seed for _, seed in batch])
        timings["denoise"] = _lap(started, device)
        if finish is not None:
            return finish(pipe, latents, batch, timings), timings
        started = time.perf_counter()
        images = decode_latents(pipe, latents)
        timings["decode"] = _lap(started, device)
    return images, timings


def denoise(pipe: Any, config: GenerateConfig, text: PromptEmbeds, seeds: list[int]) -> Any:
    """Latents in prompt order; one pipeline call per text length (prompts of more chunks run apart)."""
    import torch

    latents: list[Any] = [None] * len(seeds)
    for rows in text.groups():
        generators = [torch.Generator("cpu").manual_seed(seeds[i]) for i in rows]
        out = pipe(**text.pipeline_kwargs(rows), num_inference_steps=config.steps,
                   guidance_scale=config.guidance, generator=generators, height=config.height, width=config.width,
                   output_type="latent").images
        for row, latent in zip(rows, out):
            latents[row] = latent
    return torch.stack(latents)


def decode_latents(pipe: Any, latents: Any) -> list[Any]:
    """PIL images from latents in the base's latent space, through the base's VAE.

    As the pipelines decode: an SDXL VAE in float16 overflows, so one that says ``force_upcast`` decodes in
    float32; a VAE with ``latents_mean``/``latents_std`` denormalises with them."""
    import torch

    vae, original = pipe.vae, pipe.vae.dtype
    upcast = original == torch.float16 and bool(getattr(vae.config, "force_upcast", False))
    if upcast:
        vae.to(torch.float32)
    latents = latents.to(vae.dtype)
    mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
    if mean is not None and std is not None:
        shape = (1, len(mean), 1, 1)
        latents = (latents * torch.tensor(std).view(shape).to(latents) / vae.config.scaling_factor
                   + torch.tensor(mean).view(shape).to(latents))
    else:
        latents = latents / vae.config.scaling_factor
    try:
        decoded = vae.decode(latents, return_dict=False)[0]
    finally:
        if upcast:
            vae.to(original)  # the pipeline's own module: back to its precision
    return pipe.image_processor.postprocess(decoded, output_type="pil")


def _lap(started: float, device: str) -> float:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
    return round(time.perf_counter() - started, 4)


def save_image(out: Path, index: int, prompt: str, seed: int, image: Any, config: GenerateConfig,
               record: dict[str, Any], timings: dict[str, float], batch_size: int) -> GeneratedImage:
    name = f"{index:05d}-seed{seed}"
    path, sidecar = out / f"{name}.png", out / f"{name}.json"
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    settings = {k: v for k, v in asdict(config).items() if k not in ("prompts", "loras", "out", "base", "text_encoder")}
    write_json_atomic(sidecar, {
        "image": path.name, "prompt": prompt, "seed": seed, **settings, "size": list(image.size),
        **record, "timings_s": {**timings, "batch_size": batch_size},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return GeneratedImage(str(path), str(sidecar), prompt, seed, dict(timings))
