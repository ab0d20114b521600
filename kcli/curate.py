"""Commands that curate and release a manifest: filter, caption, report, view, publish."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kcli.option_groups import SettingsFlags, StageFlags, settings_options, stage_options
from kcli.options import AsJson, BlobDirs, InputArg, ManifestArg, Out, Overwrite, Sets
from kcli.output import emit
from kdata.deps import require_extra

ReportLimit = Annotated[int, typer.Option("--limit", min=1, help="Most rows in the grid (a key-hash sample beyond).")]


@stage_options
@settings_options
def filter(  # noqa: A001 - the command is called filter
    manifest: InputArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output manifest directory (the report goes in "
                                             "OUT/report).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Only print which rules will run on MANIFEST and "
                                          "why (rules whose columns it lacks are skipped); runs nothing.")]
    = False,
    blob_dir: BlobDirs = None,
    *,
    settings: SettingsFlags,
    flags: StageFlags,
) -> None:
    """Score quality, text, CLIP similarity, aesthetics and safety; dedup; keep or reject every row with a reason.

    Without --config the packaged default rules apply.

    A rule whose column is missing or empty on every row is skipped and listed, never applied.

    --explain prints which rules will run on MANIFEST, without running anything."""
    from kcli.output import console, stats_table
    from kdata.filter.config import load_filter_config
    from kdata.filter.run import run_filter
    from kdata.parquet_import import open_input

    filter_config = load_filter_config(settings.config, settings.sets)
    opened = open_input(manifest, "filter", blob_dir or [])
    if explain:
        from kdata.filter.plan import plan_rules

        emit(plan_rules(opened, filter_config), flags.as_json, show_plan)
        return
    if out is None:
        raise typer.BadParameter("--out is required (or pass --explain to only print the plan)", param_hint="--out")

    def show(result) -> None:  # noqa: ANN001 - a kdata.filter.run.FilterResult
        console.print(stats_table(result.stats, title=f"{result.manifest.path}"))
        for name, value in result.thresholds.items():
            console.print(f"percentile rule {name!r} resolved to threshold {value:.4g}")
        for skipped in result.skipped_rules:
            console.print(f"skipped rule {skipped['rule']!r}: {skipped['reason']}", highlight=False, soft_wrap=True)
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        console.print(f"report: {result.report / 'index.html'}")

    flags.run(run_filter, opened, filter_config, out, show=show)


def show_plan(plan) -> None:  # noqa: ANN001 - a kdata.filter.plan.RulePlan
    from kcli.output import console, rows_table

    rows = [(r.rule, r.filter, "yes" if r.runs else "skipped", r.why) for r in plan.rules]
    console.print(rows_table(["rule", "filter", "runs", "why"], rows, title=f"{plan.manifest} ({plan.rows:,} rows)"))
    console.print(f"dedup: {', '.join(plan.dedup) or 'off'}", highlight=False)


@stage_options
def caption(
    manifest: ManifestArg,
    config: Annotated[Path, typer.Option("--config", "-c", help="Caption config TOML (backends per language).")],
    out: Out,
    sets: Sets = None,
    blob_dir: BlobDirs = None,
    *,
    flags: StageFlags,
) -> None:
    """Add caption_en / caption_ko with provenance: templates, alt text, captioners, translators."""
    from kdata.caption.stage import run_caption
    from kdata.manifest import open_manifest

    # The columns and the config are checked before the first bar and any model.
    flags.run(run_caption, open_manifest(manifest, blob_dirs=blob_dir or []), config, out, sets=sets)


def report(
    manifest: InputArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report (index.html and its files).")],
    limit: ReportLimit = 5000,
    blob_dir: BlobDirs = None,
    as_json: AsJson = False,
) -> None:
    """Write a static HTML report: thumbnails, facets, sorting, score histograms, captions, lineage."""
    from kcli.output import progress_bars
    from kdata.parquet_import import open_input
    from kdata.report import write_report

    opened = open_input(manifest, "report", blob_dir or [])
    with progress_bars(not as_json) as progress:
        result = write_report(opened, out, limit=limit, progress=progress)
    emit(result, as_json, lambda r: typer.echo(f"report: {r.index} ({r.shown:,} of {r.rows:,} rows in the grid)"))


def view(
    manifest: InputArg,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one).")]
    = 8765,
    limit: ReportLimit = 5000,
    index: Annotated[Path | None, typer.Option("--index", help="An image index of this manifest (kcli index build "
                                               "MANIFEST --out INDEX): turns on the page's search box.")] = None,
    blob_dir: BlobDirs = None,
    as_json: AsJson = False,
) -> None:
    """Build the report (under the kcli home) and serve it on 127.0.0.1 until Ctrl-C; --index adds search."""
    from kcli.output import progress_bars
    from kdata.parquet_import import open_input
    from kdata.report import write_report
    from kdata.report.serve import ReportServer, report_dir

    opened = open_input(manifest, "view", blob_dir or [])
    search = None
    if index is not None:
        from kdata.report.search import index_search

        search = index_search(index, opened.path)
    server = ReportServer(report_dir(opened), port, search=search)  # a busy port is refused before any work
    with progress_bars(not as_json) as progress:
        result = write_report(opened, server.root, limit=limit, progress=progress)
    emit({"url": server.url, "report": str(result.path)}, as_json,
         lambda served: typer.echo(f"serving {served['report']} at {served['url']} (Ctrl-C to stop)"))
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")


def publish(
    manifest: Annotated[Path, typer.Argument(help="The image manifest to publish (only its ok rows go out).")],
    repo_id: Annotated[str | None, typer.Option(help="Upload to this Hub dataset repository (ORG/NAME).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the Hub repository as private.")] = False,
    to: Annotated[Path | None, typer.Option(help="Export to this folder: exactly the files an upload sends.")]
    = None,
    keep_exif: Annotated[bool, typer.Option("--keep-exif", help="Keep EXIF/XMP/IPTC metadata (stripped by "
                                            "default).")] = False,
    shard_size_mb: Annotated[float, typer.Option(help="Target size of each Parquet file, in MB.")] = 500,
    blob_dir: BlobDirs = None,
    overwrite: Overwrite = False,
    as_json: AsJson = False,
) -> None:
    """Export a manifest as a Hub dataset (Parquet shards + dataset card) and/or upload it to the Hub."""
    require_extra("publish", "kcli publish")
    from kdata.manifest import open_manifest
    from kdata.publish import PublishConfig
    from kdata.publish.publish import publish_manifest

    config = PublishConfig(keep_exif=keep_exif, shard_size_mb=shard_size_mb, repo_id=repo_id)
    opened = open_manifest(manifest, blob_dirs=blob_dir or [])
    StageFlags(overwrite=overwrite, as_json=as_json).run(publish_manifest, opened, config, to, private,
                                                         show=show_publish)


def show_publish(outcome: dict) -> None:
    from kcli.output import console, key_value_table, stats_table

    export = outcome["export"]
    summary = {"folder": export["path"], "rows": f"{export['rows']:,}", "files": len(export["files"])}
    if export["up_to_date"]:
        summary["note"] = "already up to date (same manifest and settings)"
    if "upload" in outcome:
        summary["uploaded to"] = outcome["upload"]["repo_url"]
    console.print(stats_table(export["counters"], title="export"))
    console.print(key_value_table(summary, title="publish"))
