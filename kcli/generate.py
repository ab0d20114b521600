"""Image generation: ``kcli generate`` (images and sidecars) and ``kcli serve`` (the web demo)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from kcli.option_groups import BaseFlags, PostStageFlags, base_options, post_stage_options
from kcli.options import AsJson, Base, Guidance, Seed, Steps, TextEncoder
from kcli.output import emit
from kdata.deps import require_extra


@base_options
@post_stage_options
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
    prompt_index: Annotated[Path | None, typer.Option(help="A prompt index (kcli index build): also show each "
                                                      "prompt's 3 nearest corpus prompts and the search time.")]
    = None,
    as_json: AsJson = False,
    *,
    base_files: BaseFlags,
    stages: PostStageFlags,
) -> None:
    """Generate images from prompts with a base model, an optional text encoder and weighted LoRAs.

    The base is SD 1.x or SDXL (both encoders, pooled embedding; --text-encoder then names an encoder pair
    folder). Optional stages after the base: --upscaler (x2, on an SD 1.x base's latents) and --refiner (SDXL
    img2img on the decoded image). Each image's row and sidecar give the seconds of every stage of its batch.
    """
    require_extra("train", "kcli generate")
    from kcli.output import console, progress_bars, rows_table
    from kdata.config import checked
    from ktrain.lora.generate import GenerateConfig
    from ktrain.lora.generate import generate as run_generate
    from ktrain.lora.loading import LoraSpec
    from ktrain.t2i.stages import PostStages, check_stages

    cfg = checked(GenerateConfig, "generate", prompts=list(prompts), base=base, out=str(out),
                  text_encoder=text_encoder, loras=[LoraSpec.parse(s) for s in lora or []],
                  negative_prompt=negative_prompt, seed=seed, images_per_prompt=images_per_prompt, steps=steps,
                  guidance=guidance, height=height, width=width, batch_size=batch_size, **base_files.named())
    index = _open_prompt_index(prompt_index)  # a wrong path fails before the first image
    stage_config = stages.config()
    check_stages(stage_config)  # a missing refiner or upscaler is refused before the base loads
    finish = PostStages(stage_config, steps) if stage_config.active else None
    with progress_bars(not as_json) as progress:
        results = run_generate(cfg, progress=progress, finish=finish)
    rows = [{"image": r.path, "sidecar": r.sidecar, "prompt": r.prompt, "seed": r.seed,
             "timings_s": r.timings} for r in results]
    stage_names = list(results[0].timings) if results else []
    similar = _similar_prompts(index, prompts) if index is not None else {}
    for row in rows:
        if similar:
            row["similar_prompts"] = similar[row["prompt"]]
    emit(rows, as_json, lambda rows: console.print(rows_table(
        ("image", "seed", "prompt", *(f"{s} s" for s in stage_names), *(("similar prompts",) if similar else ())),
        [(r["image"], str(r["seed"]), r["prompt"], *(f"{r['timings_s'][s]:.3f}" for s in stage_names),
          *_similar_cell(r)) for r in rows])))


def _open_prompt_index(path: Path | None):  # noqa: ANN202 - a kdata.index.PromptIndex or None
    if path is None:
        return None
    from kdata.index import PromptIndex

    return PromptIndex.open(path)


def _similar_prompts(index, prompts: list[str]) -> dict[str, dict]:  # noqa: ANN001 - a kdata.index.PromptIndex
    """Each prompt's 3 nearest prompts in the index (the lookup DiffusionDB users know), with the search time."""
    similar = {}
    for prompt in dict.fromkeys(prompts):
        found = index.search(prompt, 3)
        similar[prompt] = {"hits": [vars(h) for h in found.hits], "search_ms": found.search_ms}
    return similar


def _similar_cell(row: dict) -> tuple[str, ...]:
    from rich.markup import escape

    if "similar_prompts" not in row:
        return ()
    found = row["similar_prompts"]
    lines = [f"{h['score']:.3f} {escape(h['text'])}" for h in found["hits"]]
    return ("\n".join([*lines, f"({found['search_ms']:.1f} ms)"]),)


@base_options
@post_stage_options
def serve(
    base: Base,
    text_encoder: TextEncoder = None,
    lora: Annotated[list[str] | None, typer.Option(help="NAME=PATH of a LoRA users may pick, repeatable; NAME in "
                                                   "any script, e.g. '수묵화 LoRA=out/lora/ink'.")] = None,
    lora_dir: Annotated[Path | None, typer.Option(help="Folder of trained LoRAs users may pick: NAME.safetensors "
                                                  "files and NAME/ folders of kcli train lora.")] = None,
    translator: Annotated[str | None, typer.Option(help="Korean→English model (folder, Hub id or "
                                                   "tiny-translator-ko-en): the page then also renders "
                                                   "translate-then-generate, side by side.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 7860,
    max_queue: Annotated[int, typer.Option(min=0, help="Requests that may wait; more are told to retry.")] = 8,
    max_steps: Annotated[int, typer.Option(min=1, help="Most denoising steps a request may ask for.")] = 50,
    max_prompt_chars: Annotated[int, typer.Option(min=1, help="Longest prompt accepted.")] = 200,
    max_image_size: Annotated[int, typer.Option(min=8, help="Largest width or height accepted.")] = 768,
    prompt_index: Annotated[Path | None, typer.Option(help="A prompt index (kcli index build): as a person types, "
                                                      "the page suggests the nearest corpus prompts.")] = None,
    as_json: AsJson = False,
    *,
    base_files: BaseFlags,
    stages: PostStageFlags,
) -> None:
    """Web demo: Korean prompt, LoRAs with weights, seed/steps/guidance; the image with per-stage timings.

    With --refiner or --upscaler the page gets a switch for each; with --translator, a button renders the
    prompt through the Korean encoder and through translate-then-generate side by side. Past results stay
    in a gallery with their timings. With --prompt-index, the nearest corpus prompts show under the prompt box
    as one types; a click puts one into the box.
    """
    require_extra("serve", "kcli serve")
    if prompt_index is not None:
        require_extra("index", "kcli serve --prompt-index")
    from kdata.errors import ConfigError
    from ktrain.t2i.serve.engine import loras_in_folder, parse_lora_options
    from ktrain.t2i.serve.limits import ServeLimits
    from ktrain.t2i.serve.server import ServeConfig
    from ktrain.t2i.serve.server import serve as run_server
    from ktrain.t2i.stages import check_stages

    limits = ServeLimits(max_prompt_chars=max_prompt_chars, max_steps=max_steps, max_image_size=max_image_size,
                         max_queue=max_queue)
    loras = parse_lora_options(lora or [])
    for name, path in (loras_in_folder(str(lora_dir)) if lora_dir else {}).items():
        if name in loras:
            raise ConfigError(f"--lora-dir {lora_dir}: {name!r} is also given with --lora")
        loras[name] = path
    stage_config = stages.config()
    check_stages(stage_config)
    config = ServeConfig(base, text_encoder, loras, host, port, limits, translator=translator,
                         stages=stage_config, prompt_index=prompt_index and str(prompt_index),
                         **base_files.named())

    def ready(url: str) -> None:
        emit({"url": url, "base": base, "text_encoder": text_encoder, "loras": config.loras,
              "translator": translator, "refiner": stage_config.refiner, "upscaler": stage_config.upscaler,
              "prompt_index": config.prompt_index}, as_json,
             lambda _: typer.echo(f"serving {base} at {url} (Ctrl-C to stop)"))
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):  # uvicorn itself shuts down gracefully on Ctrl-C and returns
        run_server(config, on_ready=ready)
    if not as_json:
        typer.echo("stopped")
