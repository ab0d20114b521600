"""Commands that bring images in: ``kcli crawl``, ``kcli ingest urls|folder|crop`` and ``kcli verify``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from kcli.option_groups import (
    ImageFlags,
    SettingsFlags,
    StageFlags,
    image_options,
    settings_options,
    stage_options,
)
from kcli.options import (
    AllowPrivate,
    BlobDirs,
    EncodeQuality,
    ManifestArg,
    Out,
    Store,
)
from kdata.deps import require_extra

ingest_app = typer.Typer(help="Ingest images: URL lists (img2dataset-compatible), local folders, crops.",
                         no_args_is_help=True)
Patterns = list[str] | None


@stage_options
@settings_options
def crawl(
    seeds: Annotated[list[str] | None, typer.Argument(help="Seed page URLs or sitemaps (.xml); or seeds in "
                                                         "--config.")] = None,
    out: Out = ...,
    allowed_domains: Annotated[Patterns, typer.Option("--allowed-domain", help="Domains to stay on (default: "
                                                      "the seeds').")] = None,
    max_depth: Annotated[int | None, typer.Option(min=0, help="Links followed from a seed (default 3).")] = None,
    max_pages: Annotated[int | None, typer.Option(min=0, help="Page requests in all (0: no limit).")] = None,
    max_images: Annotated[int | None, typer.Option(min=0, help="Distinct images collected (0: no limit).")] = None,
    include: Annotated[Patterns, typer.Option(help="Regex a page URL must match (repeatable).")] = None,
    exclude: Annotated[Patterns, typer.Option(help="Regex of page URLs not to fetch (repeatable).")] = None,
    js: Annotated[Patterns, typer.Option(help="Regex of pages to render in Chromium and scroll (repeatable).")] = None,
    allow_private: AllowPrivate = None,
    *,
    settings: SettingsFlags,
    flags: StageFlags,
) -> None:
    """Crawl pages politely (robots.txt, noai, delays) and collect their images with page context.

    OUT gets pages/ and images/ manifests; the images are downloaded by the same stage as `kcli ingest urls`."""
    require_extra("crawl", "kcli crawl")
    from kcli.output import console, stats_table
    from kdata.crawl.config import crawl_config
    from kdata.crawl.run import crawl as run_crawl

    named = {"allowed_domains": allowed_domains, "max_depth": max_depth, "max_pages": max_pages,
             "max_images": max_images, "include": include, "exclude": exclude, "js": js,
             "allow_private": allow_private}
    config = crawl_config(seeds or [], named, settings.config, settings.sets)

    def show(result) -> None:  # noqa: ANN001 - a kdata.crawl.run.CrawlResult
        console.print(stats_table(result.page_stats, title=f"pages: {result.pages.path}"))
        console.print(stats_table(result.images.stats, title=f"images: {result.images.manifest.path}"))
        if result.resumed:
            console.print("resumed an earlier run of this crawl")

    flags.run(run_crawl, config, out, show=show)


@ingest_app.command("urls")
@stage_options
@settings_options
@image_options
def ingest_urls(
    ctx: typer.Context,
    input_path: Annotated[Path, typer.Argument(help="URL list: .txt/.csv/.tsv/.jsonl/.parquet, optionally .gz.")],
    out: Out,
    url_col: Annotated[str | None, typer.Option(help="Column holding the URL (default: url).")] = None,
    caption_col: Annotated[str | None, typer.Option(help="Column holding the caption.")] = None,
    input_format: Annotated[str | None, typer.Option(help="txt | csv | tsv | jsonl | parquet.")] = None,
    resize_only_if_bigger: Annotated[bool | None, typer.Option("--resize-only-if-bigger",
                                                                  help="Never upscale.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Concurrent downloads per worker.")] = None,
    retries: Annotated[int | None, typer.Option(min=0, help="Retries on 429/5xx/network errors.")] = None,
    retry_failed: Annotated[int | None, typer.Option(min=0, help="Re-runs that retry retryable failures.")] = None,
    read_timeout: Annotated[float | None, typer.Option("--timeout", help="Read timeout in seconds.")] = None,
    max_bytes: Annotated[int | None, typer.Option(min=1, help="Largest download accepted.")] = None,
    per_host: Annotated[int | None, typer.Option(min=1, help="Concurrent requests per host, per worker.")] = None,
    user_agent: Annotated[str | None, typer.Option(help="User-Agent header (keep it honest).")] = None,
    allow_private: AllowPrivate = None,
    *,
    settings: SettingsFlags,
    image: ImageFlags,
    flags: StageFlags,
) -> None:
    """Download a URL list into an image manifest; re-running resumes and retries retryable failures.

    Without --workers, one worker process per CPU core, each with --threads downloads in flight."""
    from kdata.ingest.settings import url_config
    from kdata.ingest.urls import default_workers
    from kdata.ingest.urls import ingest_urls as run_ingest

    named = {**image.named(), "url_col": url_col, "caption_col": caption_col, "input_format": input_format,
             "resize_only_if_bigger": resize_only_if_bigger, "threads": threads, "retries": retries,
             "retry_failed": retry_failed, "read_timeout": read_timeout, "max_bytes": max_bytes, "per_host": per_host,
             "user_agent": user_agent, "allow_private": allow_private}
    config = url_config(input_path, named, settings.config, settings.sets)
    if not _given(ctx, "workers"):  # decoding and re-encoding are CPU-bound: one process per core unless told
        flags = dataclasses.replace(flags, workers=default_workers())
    flags.run(run_ingest, config, out)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user set option ``name`` (as opposed to its default being filled in)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


@ingest_app.command("folder")
@stage_options
@settings_options
@image_options
def ingest_folder(
    root: Annotated[Path, typer.Argument(help="A folder of images (searched recursively).")],
    out: Out,
    mapping: Annotated[str | None, typer.Option(help="Sidecar mapping: a shipped name (ink-painting) or a "
                                                   "TOML file.")] = None,
    metadata: Annotated[Path | None, typer.Option(help="One CSV/JSONL/Parquet of metadata instead of "
                                                     "sidecars.")] = None,
    file_col: Annotated[str | None, typer.Option(help="Metadata column naming the image (default: "
                                                    "file_name).")] = None,
    sidecar_dir: Annotated[Path | None, typer.Option(help="Where sidecar JSON files live, if elsewhere.")] = None,
    source: Annotated[str | None, typer.Option(help="The source column for rows whose metadata has none.")] = None,
    *,
    settings: SettingsFlags,
    image: ImageFlags,
    flags: StageFlags,
) -> None:
    """Ingest local images with per-image sidecar JSON (mapped to columns) or one metadata file."""
    from kdata.ingest.folder import ingest_folder as run_ingest
    from kdata.ingest.settings import folder_config

    named = {**image.named(), "mapping": mapping, "metadata": metadata, "file_col": file_col,
             "sidecar_dir": sidecar_dir, "source": source}
    config = folder_config(root, named, settings.config, settings.sets)
    flags.run(run_ingest, config, out)


@ingest_app.command("crop")
@stage_options
@settings_options
def ingest_crop(
    manifest: ManifestArg,
    out: Out,
    short_side: Annotated[int | None, typer.Option(min=1, help="Resize the short side to this first.")] = None,
    size: Annotated[int | None, typer.Option(min=1, help="Side of the square crops.")] = None,
    crops: Annotated[int | None, typer.Option(min=1, help="Random crops per image.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (with each key) for the crop offsets.")] = None,
    encode_format: Annotated[str | None, typer.Option(help="jpeg | png | webp.")] = None,
    encode_quality: EncodeQuality = None,
    store: Store = None,
    blob_dir: BlobDirs = None,
    *,
    settings: SettingsFlags,
    flags: StageFlags,
) -> None:
    """Random square crops after a short-side resize (a LoRA data recipe), one row per crop."""
    from kdata.ingest.crop import crop_manifest
    from kdata.ingest.settings import crop_config
    from kdata.manifest import open_manifest

    named = {"short_side": short_side, "size": size, "crops": crops, "seed": seed, "encode_format": encode_format,
             "encode_quality": encode_quality, "store": store}
    config = crop_config(named, settings.config, settings.sets)
    parent = open_manifest(manifest, blob_dirs=blob_dir or [])
    flags.run(crop_manifest, parent, config, out)


@stage_options
def verify(manifest: ManifestArg, out: Out, blob_dir: BlobDirs = None, *, flags: StageFlags) -> None:
    """Decode every image, check its sha256, record width/height/format; bad rows become 'failed'."""
    from kdata.manifest import open_manifest
    from kdata.verify import verify_manifest

    flags.run(verify_manifest, open_manifest(manifest, blob_dirs=blob_dir or []), out)
