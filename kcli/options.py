"""Option types shared by several commands, declared once as ``Annotated`` aliases.

A command writes ``out: Out`` or ``as_json: AsJson = False`` instead of repeating the flag, its short name
and its help. The run options every data stage takes (workers, executor, batch size, overwrite, --json)
are added together by :func:`kcli.option_groups.stage_options`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

AsJson = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result instead of tables.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Delete an existing output first (the only destructive "
                                         "mode; only a folder kcli wrote is deleted).")]
Workers = Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes, or Ray actors with --executor "
                                      "ray (each loads its models once).")]
Executor = Annotated[str, typer.Option("--executor", help="Where shards run: 'local' (this machine) or 'ray' "
                                       "(needs the 'ray' extra).")]
RayAddress = Annotated[str | None, typer.Option(
    "--ray-address", help="With --executor ray: a running cluster (ray://HOST:10001, HOST:6379 or 'auto'); default: "
    "$RAY_ADDRESS if set, else a local Ray started for this run.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Rows per batch handed to the stage.")]

ManifestArg = Annotated[Path, typer.Argument(help="The input manifest directory (holds manifest.json).")]
InputArg = Annotated[Path, typer.Argument(help="The input: a manifest directory, or plain Parquet (a file or "
                                          "folder, such as a Hub export), imported once under the kcli home.")]
BlobDirs = Annotated[list[Path] | None, typer.Option(
    "--blob-dir", help="A blob store this manifest's image_path values may be read from, besides stores inside "
    "the manifest and stores kcli created (repeatable).")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output directory.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", "-c", help="A TOML file of settings.")]
Sets = Annotated[list[str] | None, typer.Option(
    "--set", help="KEY=VALUE for any setting, value read as TOML (dotted keys reach nested tables); repeatable. "
    "Precedence: defaults < --config file < named options < --set.")]

# Images written by the ingest commands.
ResizeMode = Annotated[str | None, typer.Option(
    "--resize-mode", help="no | keep_ratio | keep_ratio_largest | center_crop | border.")]
ImageSize = Annotated[int | None, typer.Option("--image-size", min=1, help="Target side in pixels.")]
EncodeFormat = Annotated[str | None, typer.Option(
    "--encode-format", help="keep | jpeg | png | webp (re-encodes when not keep).")]
EncodeQuality = Annotated[int | None, typer.Option("--encode-quality", min=1, max=100, help="JPEG/WebP quality.")]
Store = Annotated[str | None, typer.Option(
    "--store", help="inline (bytes in the shards) | blobs (content-addressed files).")]
ShardSize = Annotated[int | None, typer.Option("--shard-size", min=1, help="Input rows per shard (unit of resume).")]
AllowPrivate = Annotated[bool | None, typer.Option("--allow-private", help="Allow loopback/private addresses.")]

# Models.
Base = Annotated[str, typer.Option("--base", help="SD 1.x base: diffusers folder, Hub id, tiny-sd or one "
                                   ".safetensors checkpoint.")]
Variant = Annotated[str | None, typer.Option("--variant", help="The base's weight variant to fetch and load (fp16).")]
BaseConfig = Annotated[str | None, typer.Option(
    "--base-config", help="For a single-file --base: a diffusers folder, Hub id or preset with its component configs.")]
TextEncoder = Annotated[str | None, typer.Option(
    "--text-encoder", help="CLIPTextModel + tokenizer folder replacing the base's (e.g. a kcli Korean encoder); "
    "with an SDXL base, an encoder pair folder (kcli train encoder-sdxl).")]
Resume = Annotated[str | None, typer.Option("--resume", help="'latest' or a checkpoint folder to continue from.")]
MaxSteps = Annotated[int | None, typer.Option("--max-steps", min=1, help="Optimizer steps.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the first image; the next ones count up.")]
Steps = Annotated[int, typer.Option("--steps", min=1, help="Denoising steps.")]
Guidance = Annotated[float, typer.Option("--guidance", help="Classifier-free guidance scale (1 = off).")]

# Trainers: experiment trackers beside metrics.jsonl.
ReportTo = Annotated[list[str] | None, typer.Option(
    "--report-to", help="Also log to an experiment tracker: tensorboard (event files in OUT/logs) or wandb "
    "(repeatable; off by default; needs that package installed).")]

# Stages after the base: an SDXL refiner pass and a x2 latent upscaler (ktrain.t2i.stages).
Refiner = Annotated[str | None, typer.Option(
    "--refiner", help="SDXL refiner run img2img on each image: diffusers folder, Hub id "
    "(stabilityai/stable-diffusion-xl-refiner-1.0) or tiny-sdxl-refiner.")]
RefinerStrength = Annotated[float, typer.Option(
    "--refiner-strength", min=0.01, max=1.0, help="How much of the image the refiner redraws.")]
RefinerSteps = Annotated[int | None, typer.Option(
    "--refiner-steps", min=1, help="Refiner steps before strength (default: --steps).")]
RefinePrompt = Annotated[str, typer.Option(
    "--refine-prompt", help="English text the refiner reads, after the prompt when that is English; alone for "
    "a Korean prompt (the refiner's OpenCLIP encoder knows no Korean).")]
RefineNegativePrompt = Annotated[str, typer.Option(
    "--refine-negative-prompt", help="Negative prompt of the refiner pass.")]
Upscaler = Annotated[str | None, typer.Option(
    "--upscaler", help="x2 latent upscaler run on the base's latents: diffusers folder, Hub id "
    "(stabilityai/sd-x2-latent-upscaler) or tiny-latent-upscaler.")]
UpscalerSteps = Annotated[int, typer.Option("--upscaler-steps", min=1, help="Upscaler denoising steps.")]
