"""Real model sizes: one training or generation step of SD 1.5 and SDXL at their published sizes, random weights.

The models are built from the published configs in ``bench/real_sizes.json`` (SD 1.5's 860M-parameter UNet,
SDXL base's 2.6B and refiner's 2.3B UNets, the CLIP-L/14 and OpenCLIP bigG text towers, SDXL's VAE) with
random weights, so nothing is downloaded. Cases, each in a fresh subprocess so that peak memory is its own:

- ``sd15-lora``: one LoRA step of the SD 1.5 UNet at 512 px (64 x 64 latents), batch 1, as the trainer runs it
  with its latent and text caches on: rank-4 LoRA on the attention projections (``ktrain.lora.models.add_lora``),
  noise, timesteps, min-SNR loss (``ktrain.lora.losses``), backward, AdamW.
- ``sdxl-lora``: the same on SDXL base with its added conditioning (pooled bigG embedding and size/crop ids from
  ``ktrain.lora.sdxl``), gradient checkpointing on, at 1024 px when the memory estimate fits in what the machine
  has free now, else the largest of 768 / 512 px that fits (the output says which and why).
- ``encoder-kd``: one step of ``kcli train encoder`` (``train_encoder``) on the bundled corpus with a CLIP-L/14
  text tower as the teacher, batch 32 (the command's default): tokenizer training, teacher cache, one
  distillation step, validation and export, all timed as one call.
- ``sdxl-generate``: one denoising step of SDXL base (both encoders, classifier-free guidance) then one of the
  refiner on its latents, then the VAE decode, at the SDXL size picked as for ``sdxl-lora``. The base UNet is
  freed before the refiner's is built, as one does on a machine that cannot hold both.

Printed per case: seconds (build, step) and peak resident memory (``ru_maxrss`` of the case's process; with
``--device cuda`` also ``torch.cuda.max_memory_allocated``), with ``os.getloadavg()`` before and after. fp32 only.

Run: ``PYTHONPATH=. python bench/real_sizes.py [--only sd15-lora,encoder-kd] [--device cpu|cuda] [--threads N]``.
The full set needs about 20 GiB free and tens of minutes on a 2-core CPU; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parent / "real_sizes.json"
OUT = Path(__file__).resolve().parent / "out" / "real-sizes"
CASES = ("sd15-lora", "sdxl-lora", "encoder-kd", "sdxl-generate")
SDXL_SIZES = (1024, 768, 512)
GIB = 1024**3
# Rough fp32 memory estimates (bytes) used only to pick the SDXL size: weights plus activations per megapixel.
# Activations are a guess from the UNet's widths (checkpointed training keeps block inputs only); the printed
# peak is what was measured.
SDXL_LORA_BASE = 2.6e9 * 4 * 1.1
SDXL_LORA_PER_MEGAPIXEL = 8 * GIB
SDXL_GENERATE_BASE = (2.6e9 + 0.82e9) * 4
SDXL_GENERATE_PER_MEGAPIXEL = 10 * GIB


def configs() -> dict[str, Any]:
    return json.loads(CONFIGS.read_text(encoding="utf-8"))


def unet(name: str, device: str) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**configs()[name]).to(device)


def text_tower(name: str, with_projection: bool) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(**configs()[name])
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


def mem_available() -> int:
    """MemAvailable from /proc/meminfo (bytes); a large number where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def pick_sdxl_size(base: float, per_megapixel: float, device: str, forced: int | None) -> tuple[int, str]:
    """The largest of 1024 / 768 / 512 px whose estimate fits in 85% of free memory, and why."""
    if forced:
        return forced, f"{forced} px as asked"
    if device != "cpu":
        return 1024, "1024 px (GPU)"
    free = mem_available()
    for size in SDXL_SIZES:
        need = base + per_megapixel * size * size / 1e6
        if need < 0.85 * free:
            note = "" if size == 1024 else f" (1024 px would need about {(base + per_megapixel * 1.048576) / GIB:.0f}"
            note += "" if size == 1024 else f" GiB, {free / GIB:.0f} GiB free)"
            return size, f"{size} px{note}"
    return 512, f"512 px, though the estimate exceeds the {free / GIB:.0f} GiB free"


def lora_step(model: Any, latents: Any, states: Any, extra: dict[str, Any], gradient_checkpointing: bool) -> float:
    """One cached-data LoRA training step through the trainer's own pieces; returns the loss."""
    import torch
    from diffusers import DDPMScheduler

    from ktrain.lora.config import LoraTrainConfig
    from ktrain.lora.losses import diffusion_loss, sample_noise, sample_timesteps, training_target
    from ktrain.lora.models import SDComponents, add_lora

    scheduler = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    model.requires_grad_(False)
    config = LoraTrainConfig(manifest="-", out="-", base="-", rank=4)
    ref: Any = None
    add_lora(SDComponents(None, None, None, model, scheduler, ref, ref, ref), config)
    if gradient_checkpointing:
        model.enable_gradient_checkpointing()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    generator = torch.Generator("cpu").manual_seed(0)
    noise = sample_noise(latents, generator, 0.0)
    timesteps = sample_timesteps(latents.shape[0], 1000, generator, latents.device)
    pred = model(scheduler.add_noise(latents, noise, timesteps), timesteps, states, **extra).sample
    target = training_target(scheduler, latents, noise, timesteps, "epsilon")
    loss = diffusion_loss(pred, target, timesteps, scheduler, 5.0, "epsilon")
    loss.backward()
    optimizer.step()
    return float(loss.item())


def case_sd15_lora(args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import torch

    model = timed("build", lambda: unet("sd15_unet", args.device))
    latents = torch.randn(1, 4, 64, 64, device=args.device)
    states = torch.randn(1, 77, model.config.cross_attention_dim, device=args.device)
    loss = timed("step", lambda: lora_step(model, latents, states, {}, args.gradient_checkpointing))
    return {"size": "512 px", "params": sum(p.numel() for p in model.parameters()), "loss": loss}


def case_sdxl_lora(args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import torch

    from ktrain.lora.sdxl import added_conditioning, time_ids

    size, why = pick_sdxl_size(SDXL_LORA_BASE, SDXL_LORA_PER_MEGAPIXEL, args.device, args.sdxl_size)
    model = timed("build", lambda: unet("sdxl_base_unet", args.device))
    config = model.config
    pooled_width = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim  # bigG: 1280
    latents = torch.randn(1, 4, size // 8, size // 8, device=args.device)
    states = torch.randn(1, 77, config.cross_attention_dim, device=args.device)  # 768 + 1280
    ids = torch.tensor([time_ids((size, size), (0, 0), (size, size))], dtype=torch.float32, device=args.device)
    extra = added_conditioning(torch.randn(1, pooled_width, device=args.device), ids)
    loss = timed("step", lambda: lora_step(model, latents, states, extra, True))
    return {"size": why, "params": sum(p.numel() for p in model.parameters()), "loss": loss}


def case_encoder_kd(args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import shutil

    from kdata.corpus.build import run_corpus_build
    from kdata.corpus.sample import SAMPLE_CORPUS
    from kdata.models.clip_tokenizer import build_clip_tokenizer
    from ktrain.encoder.config import EncoderTrainConfig
    from ktrain.encoder.loop import train_encoder

    teacher = OUT / "clip-l-teacher"
    pairs = OUT / "bundled-corpus"

    def build() -> None:
        shutil.rmtree(teacher, ignore_errors=True)
        text_tower("clip_l_text", False).save_pretrained(teacher)
        build_clip_tokenizer().save_pretrained(teacher)
        if not pairs.exists():
            run_corpus_build([SAMPLE_CORPUS], pairs)

    timed("build", build)
    config = EncoderTrainConfig(pairs=str(pairs), teacher=str(teacher), out=str(OUT / "encoder-run"), max_steps=1,
                                checkpoint_every=1, unet_weight=0.0, batch_size=args.kd_batch,
                                best_metric="mean_cosine")
    result = timed("step", lambda: train_encoder(config, overwrite=True))
    return {"size": f"batch {args.kd_batch} x 77 tokens, whole 1-step run", "params": 123_060_480,
            "loss": float(result.last_loss if result.last_loss is not None else float("nan"))}


def case_sdxl_generate(args: argparse.Namespace, timed: Callable[..., Any]) -> dict[str, Any]:
    import gc

    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLPipeline,
    )

    from kdata.models.clip_tokenizer import build_clip_tokenizer

    size, why = pick_sdxl_size(SDXL_GENERATE_BASE, SDXL_GENERATE_PER_MEGAPIXEL, args.device, args.sdxl_size)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    tokenizer_2 = build_clip_tokenizer()
    tokenizer_2.pad_token = "!"

    def build_base() -> Any:
        return StableDiffusionXLPipeline(
            vae=AutoencoderKL(**configs()["sdxl_vae"]), text_encoder=text_tower("clip_l_text", False),
            text_encoder_2=text_tower("openclip_bigg_text", True), tokenizer=build_clip_tokenizer(),
            tokenizer_2=tokenizer_2, unet=unet("sdxl_base_unet", "cpu"), scheduler=scheduler).to(args.device)

    pipes = {"base": timed("build", build_base)}
    pipes["base"].set_progress_bar_config(disable=True)
    prompt, generator = "한복을 입은 여인이 한옥 마당에 서 있다", torch.Generator("cpu").manual_seed(0)
    with torch.no_grad():
        latents = timed("base_step", lambda: pipes["base"](prompt, num_inference_steps=1, height=size, width=size,
                                                           generator=generator, output_type="latent").images)
    vae, text_encoder_2 = pipes["base"].vae, pipes["base"].text_encoder_2
    pipes.clear()  # the base UNet and CLIP-L go before the refiner's UNet is built
    gc.collect()
    refiner = timed("refiner_build", lambda: StableDiffusionXLImg2ImgPipeline(
        vae=vae, text_encoder=None, text_encoder_2=text_encoder_2, tokenizer=None, tokenizer_2=tokenizer_2,
        unet=unet("sdxl_refiner_unet", args.device), scheduler=scheduler, requires_aesthetics_score=True))
    refiner.set_progress_bar_config(disable=True)
    with torch.no_grad():
        # 4 scheduled steps at strength 0.25: the refiner runs exactly one, on the low-noise end as it was trained.
        image = timed("refiner_step_and_decode", lambda: refiner(prompt, image=latents, num_inference_steps=4,
                                                                 strength=0.25, generator=generator).images[0])
    image.save(OUT / "sdxl-generate.png")
    return {"size": why, "params": 0, "loss": float("nan")}


RUNNERS = {"sd15-lora": case_sd15_lora, "sdxl-lora": case_sdxl_lora, "encoder-kd": case_encoder_kd,
           "sdxl-generate": case_sdxl_generate}


def run_case(args: argparse.Namespace) -> None:
    """Child process: run one case and print one JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = fn()
        if args.device == "cuda":
            torch.cuda.synchronize()
        seconds[name] = round(time.perf_counter() - started, 2)
        return value

    result = RUNNERS[args.case](args, timed)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    record = {"case": args.case, "seconds": seconds, "peak_rss_gib": round(peak / GIB, 2), **result}
    if args.device == "cuda":
        record["peak_cuda_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 2)
    print("RESULT " + json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated cases of: {', '.join(CASES)}")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads")
    parser.add_argument("--sdxl-size", type=int, default=None, help="force the SDXL image side (px)")
    parser.add_argument("--kd-batch", type=int, default=32)
    parser.add_argument("--gradient-checkpointing", action="store_true", help="also for the SD 1.5 LoRA step")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args)
        return
    cases = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")
    print(f"device {args.device}, {args.threads} threads, fp32, {mem_available() / GIB:.1f} GiB free")
    print("| case | size | seconds | peak RSS GiB | load (1 min) before → after |")
    print("|---|---|---|---|---|")
    for case in cases:
        print(row(case, args), flush=True)


def row(case: str, args: argparse.Namespace) -> str:
    forwarded = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                 if k in ("device", "threads", "sdxl_size", "kd_batch") and v is not None]
    if args.gradient_checkpointing:
        forwarded.append("--gradient-checkpointing")
    load_before = os.getloadavg()[0]
    child = subprocess.run([sys.executable, __file__, f"--case={case}", *forwarded], capture_output=True, text=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    load = f"{load_before:.1f} → {os.getloadavg()[0]:.1f}"
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    if child.returncode != 0 or not lines:
        reason = (child.stderr.strip().splitlines() or [f"exit status {child.returncode}"])[-1][:160]
        return f"| {case} | - | failed: {reason} | - | {load} |"
    record = json.loads(lines[-1][len("RESULT "):])
    seconds = ", ".join(f"{k} {v}" for k, v in record["seconds"].items())
    if math.isfinite(record["loss"]):  # the generate case trains nothing: no loss to show
        seconds += f" (loss {record['loss']:.4g})"
    peak = f"{record['peak_rss_gib']}" + (f" (CUDA {record['peak_cuda_gib']})" if "peak_cuda_gib" in record else "")
    return f"| {case} | {record['size']} | {seconds} | {peak} | {load} |"


if __name__ == "__main__":
    main()
