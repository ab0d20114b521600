"""The ``kcli`` command line: thin commands that parse options, call one library function, render.

Heavy libraries (torch, transformers, diffusers) are imported inside command bodies only, so
``kcli --help`` and every ``kcli <group> --help`` answer instantly. User errors (:class:`KcliError`)
become a one-line message and a non-zero exit code here, in one place.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from kdata import __version__
from kdata.errors import KcliError

app = typer.Typer(
    name="kcli",
    help="Korean-aware image datasets and the models that draw from Korean prompts.\n\n"
    "Stages read a Parquet manifest and write a new one; re-running a command resumes it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Model presets: list them, or build the offline tiny ones.", no_args_is_help=True)
app.add_typer(models_app, name="models")

# Options shared by every stage command.
WorkersOpt = typer.Option(1, "--workers", "-w", min=1, help="Local worker processes (each loads models once).")
OverwriteOpt = typer.Option(False, "--overwrite", help="Delete an existing output first (the only destructive mode).")
JsonOpt = typer.Option(False, "--json", help="Print a machine-readable JSON result instead of tables.")
BatchOpt = typer.Option(256, "--batch-size", min=1, help="Rows per batch handed to the stage.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Korean-aware image datasets and the models that draw from Korean prompts."""


@app.command()
def inspect(
    manifest: Path = typer.Argument(..., help="A manifest directory (holds manifest.json)."),
    samples: int = typer.Option(3, "--samples", min=0, help="Sample rows to show."),
    as_json: bool = JsonOpt,
) -> None:
    """Schema, row count, lineage, status/reason funnel, column summaries and sample rows."""
    from kdata.inspect import inspect_manifest

    summary = inspect_manifest(manifest, samples=samples)
    if as_json:
        from kdata.console import print_json

        print_json(summary)
        return
    from kdata.console import console
    from kdata.inspect_render import render_inspect

    render_inspect(summary, console)


@app.command()
def verify(
    manifest: Path = typer.Argument(..., help="The image manifest to check."),
    out: Path = typer.Option(..., "--out", "-o", help="Output manifest directory."),
    workers: int = WorkersOpt,
    batch_size: int = BatchOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Decode every image, check its sha256, record width/height/format; bad rows become 'failed'."""
    from kdata.manifest import open_manifest
    from kdata.runner import manifest_sources, run_stage
    from kdata.verify import VerifyConfig, VerifyStage

    parent = open_manifest(manifest)
    with _progress("verify", not as_json) as progress:
        result = run_stage(
            VerifyStage,
            VerifyConfig(),
            manifest_sources(parent),
            out,
            parent=parent,
            workers=workers,
            batch_size=batch_size,
            overwrite=overwrite,
            progress=progress,
        )
    _report_run(result, as_json)


@app.command()
def demo(
    workdir: Path = typer.Option(Path("kcli-demo"), "--workdir", help="Where every demo output is written."),
    as_json: bool = JsonOpt,
) -> None:
    """Run the whole pipeline offline on the bundled samples with tiny model presets."""
    from kdata.console import step_progress
    from kdata.demo import run_demo, summary_rows

    with step_progress("demo", not as_json) as on_step:
        results = run_demo(workdir, on_step=on_step)
    if as_json:
        from kdata.console import print_json

        print_json([r.to_dict() for r in results])
        return
    from kdata.console import console, rows_table

    console.print(rows_table(("step", "time", "output", "summary"), summary_rows(results), title="kcli demo"))
    console.print(f"everything is under {workdir.resolve()} (summary.json lists it)")


@models_app.command("list")
def models_list(as_json: bool = JsonOpt) -> None:
    """List the offline tiny presets, their model family, and whether they are built in the kcli home."""
    from kdata.models.presets import get_preset, is_built, list_presets, preset_path

    presets = [
        {"name": n, "family": get_preset(n).family, "description": get_preset(n).description,
         "built": is_built(n), "path": str(preset_path(n))}
        for n in list_presets()
    ]
    if as_json:
        from kdata.console import print_json

        print_json(presets)
        return
    from kdata.console import console, rows_table

    rows = [(p["name"], p["family"], p["description"], p["path"] if p["built"] else "(not built)") for p in presets]
    console.print(rows_table(("preset", "family", "what", "where"), rows, title="tiny presets"))


@models_app.command("build")
def models_build(names: list[str] = typer.Argument(None, help="Preset names (default: all).")) -> None:
    """Build tiny presets (deterministic random weights) into the kcli home for offline use."""
    from kdata.models import ensure_preset, list_presets

    for name in names or list_presets():
        typer.echo(f"{name}: {ensure_preset(name)}")


train_app = typer.Typer(help="Train models from manifests: Stable Diffusion LoRA.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("lora")
def train_lora_cmd(
    manifest: Path = typer.Option(None, "--manifest", "-m", help="Image manifest with captions."),
    base: str = typer.Option(None, "--base", help="SD 1.x base: diffusers folder, Hub id or tiny-sd."),
    out: Path = typer.Option(None, "--out", "-o", help="Where checkpoints, metrics and the LoRA files go."),
    caption_col: str = typer.Option(None, "--caption-col", help="Caption column (default caption_ko)."),
    text_encoder: str = typer.Option(None, "--text-encoder", help="CLIPTextModel folder, e.g. a Korean encoder."),
    config: Path = typer.Option(None, "--config", help="TOML file of settings (flat keys)."),
    resume: str = typer.Option(None, "--resume", help="'latest' or a checkpoint folder."),
    max_steps: int = typer.Option(None, "--max-steps", help="Optimizer steps."),
    batch_size: int = typer.Option(None, "--batch-size", help="Images per micro-batch."),
    learning_rate: float = typer.Option(None, "--learning-rate", "--lr"),
    rank: int = typer.Option(None, "--rank", help="LoRA rank."),
    resolution: int = typer.Option(None, "--resolution", help="Training resolution (bucket area = this²)."),
    train_text_encoder: bool = typer.Option(None, "--train-text-encoder/--no-train-text-encoder"),
    set_: list[str] = typer.Option(None, "--set", help="KEY=VALUE for any other setting (TOML value)."),
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Train a LoRA on Stable Diffusion from an image manifest's captions; writes diffusers + kohya files."""
    from ktrain.lora.config import load_lora_config, parse_set_options
    from ktrain.lora.loop import train_lora

    settings = {"manifest": manifest and str(manifest), "base": base, "out": out and str(out),
                "caption_col": caption_col, "text_encoder": text_encoder, "max_steps": max_steps,
                "batch_size": batch_size, "learning_rate": learning_rate, "rank": rank, "resolution": resolution,
                "train_text_encoder": train_text_encoder, **parse_set_options(set_)}
    cfg = load_lora_config(config, **settings)
    with _train_progress(not as_json) as progress:
        result = train_lora(cfg, resume=resume, overwrite=overwrite, progress=progress)
    payload = result.to_dict()
    if as_json:
        from kdata.console import print_json

        print_json(payload)
        return
    from kdata.console import console, key_value_table

    shown = {k: payload[k] for k in ("out", "steps", "resumed_from", "metrics", "cache")} | payload["files"]
    console.print(key_value_table(shown, title="train lora"))


@app.command("generate")
def generate_cmd(
    prompts: list[str] = typer.Argument(..., help="One or more prompts (Korean works with a Korean encoder)."),
    base: str = typer.Option(..., "--base", help="SD 1.x base: diffusers folder, Hub id or tiny-sd."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the images and their JSON sidecars."),
    text_encoder: str = typer.Option(None, "--text-encoder", help="CLIPTextModel folder replacing the base's."),
    lora: list[str] = typer.Option(None, "--lora", help="PATH[:WEIGHT], repeatable (file or folder)."),
    negative_prompt: str = typer.Option(None, "--negative-prompt"),
    seed: int = typer.Option(0, "--seed", help="Seed of the first image; the next ones count up."),
    images_per_prompt: int = typer.Option(1, "--images-per-prompt", min=1),
    steps: int = typer.Option(30, "--steps", min=1, help="Denoising steps."),
    guidance: float = typer.Option(7.5, "--guidance", help="Classifier-free guidance scale (1 = off)."),
    height: int = typer.Option(None, "--height"),
    width: int = typer.Option(None, "--width"),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Images per pipeline call."),
    as_json: bool = JsonOpt,
) -> None:
    """Generate images from prompts with a base model, an optional text encoder and weighted LoRAs."""
    from ktrain.lora.generate import GenerateConfig, generate
    from ktrain.lora.loading import LoraSpec

    cfg = GenerateConfig(prompts=list(prompts), base=base, out=str(out), text_encoder=text_encoder,
                         loras=[LoraSpec.parse(s) for s in lora or []], negative_prompt=negative_prompt, seed=seed,
                         images_per_prompt=images_per_prompt, steps=steps, guidance=guidance, height=height,
                         width=width, batch_size=batch_size)
    with _train_progress(not as_json) as progress:
        results = generate(cfg, progress=progress and (lambda done, total: progress(_Event("generate", done, total))))
    rows = [{"image": r.path, "sidecar": r.sidecar, "prompt": r.prompt, "seed": r.seed} for r in results]
    if as_json:
        from kdata.console import print_json

        print_json(rows)
        return
    from kdata.console import console, rows_table

    console.print(rows_table(("image", "seed", "prompt"), [(r["image"], str(r["seed"]), r["prompt"]) for r in rows]))


class _Event:
    def __init__(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total, self.loss = phase, done, total, None


def _train_progress(enabled: bool):  # noqa: ANN202 - a context manager from kdata.console
    from kdata.console import phase_progress

    return phase_progress(enabled)


def _progress(description: str, enabled: bool):  # noqa: ANN202 - a context manager from kdata.console
    from kdata.console import shard_progress

    return shard_progress(description, enabled)


def _report_run(result, as_json: bool) -> None:  # noqa: ANN001 - a kdata.runner.RunResult
    payload = {
        "manifest": str(result.manifest.path),
        "rows": result.manifest.num_rows,
        "fingerprint": result.manifest.fingerprint,
        "shards_run": result.shards_run,
        "shards_skipped": result.shards_skipped,
        "stats": result.stats,
    }
    if as_json:
        from kdata.console import print_json

        print_json(payload)
        return
    from kdata.console import console, stats_table

    console.print(stats_table(result.stats, title=f"{result.manifest.path}"))
    if result.shards_skipped:
        console.print(f"resumed: {result.shards_skipped} shard(s) were already done")


def main() -> None:
    """Console-script entry point: turn user errors into one-line messages, never tracebacks."""
    try:
        app()
    except KcliError as exc:
        from kdata.console import print_error

        print_error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        from kdata.console import print_error

        print_error("interrupted; re-run the same command to resume where it stopped")
        sys.exit(130)


if __name__ == "__main__":
    main()
