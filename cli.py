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


@app.command("filter")
def filter_manifest(
    manifest: Path = typer.Argument(..., help="The image manifest to filter."),
    config: Path = typer.Option(None, "--config", "-c", help="Filter config TOML (default: the packaged one)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output manifest directory (the report goes in OUT/report)."),
    workers: int = WorkersOpt,
    batch_size: int = BatchOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Score quality, text, CLIP similarity, aesthetics and safety; dedup; keep or reject every row with a reason."""
    from kdata.filter.config import load_filter_config
    from kdata.filter.run import run_filter

    filter_config = load_filter_config(config)
    with _progress("filter", not as_json) as progress:
        result = run_filter(manifest, filter_config, out, workers=workers, batch_size=batch_size,
                            overwrite=overwrite, progress=progress)
    if as_json:
        from kdata.console import print_json

        print_json(result.to_dict())
        return
    from kdata.console import console, stats_table

    console.print(stats_table(result.stats, title=f"{result.manifest.path}"))
    for name, value in result.thresholds.items():
        console.print(f"percentile rule {name!r} resolved to threshold {value:.4g}")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"report: {result.report / 'index.html'}")


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
