"""Image generation: ``kcli generate`` (images and sidecars) and ``kcli serve`` (the web demo)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from kcli.option_groups import BaseFlags, base_options
from kcli.options import AsJson, Base, Guidance, Seed, Steps, TextEncoder
from kcli.output import emit


@base_options
def generate(
    prompts: Annotated[list[str], typer.Argument(help="One or more prompts (Korean works with a Korean encoder).")],
    base: Base,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the images and their JSON sidecars.")],
    text_encoder: TextEncoder = None,
    lora: Annotated[list[str] | None, typer.Option(help="PATH[:WEIGHT], repeatable (file or folder).")] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="What the images should not show.")] = None,
    seed: Seed = 0,
    images_per_prompt: Annotated[int, typer.Option(min=1, help="Images per prompt (seeds count up).")] = 1,
    steps: Steps = 30,
    guidance: Guidance = 7.5,
    height: Annotated[int | None, typer.Option(help="Image height (default: the base's native size).")] = None,
    width: Annotated[int | None, typer.Option(help="Image width (default: the base's native size).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per pipeline call.")] = 4,
    as_json: AsJson = False,
    *,
    base_files: BaseFlags,
) -> None:
    """Generate images from prompts with a base model, an optional text encoder and weighted LoRAs."""
    from kcli.output import console, progress_bars, rows_table
    from kdata.config import checked
    from ktrain.lora.generate import GenerateConfig
    from ktrain.lora.generate import generate as run_generate
    from ktrain.lora.loading import LoraSpec

    cfg = checked(GenerateConfig, "generate", prompts=list(prompts), base=base, out=str(out),
                  text_encoder=text_encoder, loras=[LoraSpec.parse(s) for s in lora or []],
                  negative_prompt=negative_prompt, seed=seed, images_per_prompt=images_per_prompt, steps=steps,
                  guidance=guidance, height=height, width=width, batch_size=batch_size, **base_files.named())
    with progress_bars(not as_json) as progress:
        results = run_generate(cfg, progress=progress)
    rows = [{"image": r.path, "sidecar": r.sidecar, "prompt": r.prompt, "seed": r.seed} for r in results]
    emit(rows, as_json, lambda rows: console.print(rows_table(
        ("image", "seed", "prompt"), [(r["image"], str(r["seed"]), r["prompt"]) for r in rows])))


@base_options
def serve(
    base: Base,
    text_encoder: TextEncoder = None,
    lora: Annotated[list[str] | None, typer.Option(help="NAME=PATH of a LoRA users may pick, repeatable; NAME in "
                                                   "any script, e.g. '수묵화 LoRA=out/lora/ink'.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 7860,
    max_queue: Annotated[int, typer.Option(min=0, help="Requests that may wait; more are told to retry.")] = 8,
    max_steps: Annotated[int, typer.Option(min=1, help="Most denoising steps a request may ask for.")] = 50,
    max_prompt_chars: Annotated[int, typer.Option(min=1, help="Longest prompt accepted.")] = 200,
    max_image_size: Annotated[int, typer.Option(min=8, help="Largest width or height accepted.")] = 768,
    as_json: AsJson = False,
    *,
    base_files: BaseFlags,
) -> None:
    """Web demo: Korean prompt, LoRAs with weights, seed/steps/guidance; the image with per-stage timings."""
    from ktrain.t2i.serve.engine import parse_lora_options
    from ktrain.t2i.serve.limits import ServeLimits
    from ktrain.t2i.serve.server import ServeConfig
    from ktrain.t2i.serve.server import serve as run_server

    limits = ServeLimits(max_prompt_chars=max_prompt_chars, max_steps=max_steps, max_image_size=max_image_size,
                         max_queue=max_queue)
    config = ServeConfig(base, text_encoder, parse_lora_options(lora or []), host, port, limits,
                         **base_files.named())

    def ready(url: str) -> None:
        emit({"url": url, "base": base, "text_encoder": text_encoder, "loras": config.loras}, as_json,
             lambda _: typer.echo(f"serving {base} at {url} (Ctrl-C to stop)"))
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):  # uvicorn itself shuts down gracefully on Ctrl-C and returns
        run_server(config, on_ready=ready)
    if not as_json:
        typer.echo("stopped")
