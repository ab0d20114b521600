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


# Korean text encoder: `kcli tokenizer train`, `kcli train encoder`, `kcli eval encoder`. The `train` and `eval`
# groups are shared: other trainers add their commands (`train lora`, `eval t2i`) to the same two Typers.
tokenizer_app = typer.Typer(help="Korean tokenizers in CLIP's format.", no_args_is_help=True)
train_app = typer.Typer(help="Trainers fed by kcli manifests (checkpoint-{step}/, --resume latest).",
                        no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate trained models on held-out data.", no_args_is_help=True)
app.add_typer(tokenizer_app, name="tokenizer")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
PairsOpt = typer.Option(None, "--pairs", help="A parallel-corpus manifest (ko/en pairs).")


def _print_result(payload: dict, as_json: bool, title: str) -> None:
    from kdata.console import print_json

    if as_json:
        print_json(payload)
        return
    from kdata.console import console, key_value_table

    flat = {k: v for k, v in payload.items() if not isinstance(v, dict)}
    console.print(key_value_table(flat, title=title))
    for key, value in payload.items():
        if isinstance(value, dict):
            console.print(key_value_table(value, title=key))


@tokenizer_app.command("train")
def tokenizer_train(
    pairs: Path = typer.Option(..., "--pairs", help="A parallel-corpus manifest; its train split's Korean is used."),
    out: Path = typer.Option(..., "--out", "-o", help="Tokenizer folder (loads with CLIPTokenizer.from_pretrained)."),
    vocab_size: int = typer.Option(32000, "--vocab-size", min=514, help="At most this many tokens."),
    min_frequency: int = typer.Option(2, "--min-frequency", min=1, help="A merge must occur this often."),
    include_english: bool = typer.Option(False, "--include-english", help="Also learn merges from the English side."),
    as_json: bool = JsonOpt,
) -> None:
    """Train a byte-level BPE tokenizer in CLIP's format (77 positions, no unknown characters)."""
    from ktrain.encoder.tokenizer import TokenizerTrainConfig, train_tokenizer

    config = TokenizerTrainConfig(vocab_size=vocab_size, min_frequency=min_frequency, include_english=include_english)
    _print_result(train_tokenizer(pairs, out, config), as_json, "tokenizer")


@train_app.command("encoder")
def train_encoder(
    pairs: Path = PairsOpt,
    teacher: str = typer.Option(None, "--teacher", help="SD checkpoint (tiny-sd, a diffusers folder or Hub id)."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder: checkpoints, metrics.jsonl, best/, final/."),
    config: Path = typer.Option(None, "--config", "-c", help="A TOML file of EncoderTrainConfig settings."),
    tokenizer: str = typer.Option(None, "--tokenizer", help="A tokenizer folder or id (default: train one)."),
    resume: str = typer.Option(None, "--resume", help="'latest' or a checkpoint folder to continue from."),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Optimizer steps."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Pairs per micro-batch."),
    learning_rate: float = typer.Option(None, "--lr", help="Peak learning rate."),
    seed: int = typer.Option(None, "--seed", help="Seed for init, data order and noise."),
    settings: list[str] = typer.Option(None, "--set", help="Any config setting as KEY=VALUE (repeatable)."),
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Distil the teacher's English text encoder into a Korean student that drops into diffusers."""
    from kdata.console import step_progress
    from ktrain.encoder.config import load_train_config, parse_overrides
    from ktrain.encoder.loop import train_encoder as run_training

    options = {"pairs": pairs and str(pairs), "teacher": teacher, "out": out and str(out), "tokenizer": tokenizer,
               "max_steps": max_steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    resolved = load_train_config(config, parse_overrides(settings), **options)
    with step_progress("train encoder", not as_json) as bar:
        def on_step(event) -> None:  # noqa: ANN001 - a ktrain.encoder.loop.TrainProgress
            if bar is not None:
                bar(f"loss {event.loss:.4f}", event.step, event.total)

        result = run_training(resolved, resume=resume, overwrite=overwrite, progress=on_step)
    _print_result(result.to_dict(), as_json, "train encoder")


@eval_app.command("encoder")
def eval_encoder(
    model: Path = typer.Option(..., "--model", "-m", help="An encoder export (a run's best/ or final/)."),
    pairs: Path = typer.Option(..., "--pairs", help="The parallel-corpus manifest with the held-out pairs."),
    teacher: str = typer.Option(..., "--teacher", help="The SD checkpoint the encoder was distilled from."),
    split: str = typer.Option("validation", "--split", help="validation or test (or train)."),
    latents: int = typer.Option(2, "--latents", min=1, help="Fixed noisy latents for denoising agreement."),
    latent_size: int = typer.Option(None, "--latent-size", min=2, help="Latent side (default: the UNet's)."),
    reference: bool = typer.Option(False, "--reference", help="Also score the teacher reading the Korean text."),
    as_json: bool = JsonOpt,
) -> None:
    """Held-out R@1/R@5 of student(ko) vs teacher(en), mean cosine, and denoising agreement through the UNet."""
    from ktrain.encoder.evaluate import evaluate_encoder

    result = evaluate_encoder(model, pairs, teacher, split=split, num_latents=latents, latent_size=latent_size,
                              reference=reference)
    _print_result(result, as_json, f"eval encoder ({split})")


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
