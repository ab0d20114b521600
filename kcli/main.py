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
WorkersOpt = typer.Option(
    1, "--workers", "-w", min=1, help="Worker processes, or Ray actors with --executor ray (each loads models once)."
)
ExecutorOpt = typer.Option(
    "local", "--executor", help="Where shards run: 'local' (this machine) or 'ray' (needs: pip install 'kcli\\[ray]')."
)
RayAddressOpt = typer.Option(
    None, "--ray-address", help="With --executor ray: a running cluster (ray://HOST:10001, HOST:6379 or 'auto'); "
    "default: $RAY_ADDRESS if set, else a local Ray started for this run.",
)
# The options every stage command passes to the runner, not to the stage's own config.
RUN_OPTIONS = ("workers", "executor", "ray_address", "batch_size", "overwrite", "as_json")
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
    executor: str = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
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
            executor=executor,
            ray_address=ray_address,
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
    from kcli.demo_steps import run_demo, summary_rows
    from kdata.console import step_progress

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


train_app = typer.Typer(help="Trainers fed by kcli manifests (checkpoint-{step}/, --resume latest).",
                        no_args_is_help=True)
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
    batch_size: int = typer.Option(None, "--batch-size", help="Images per micro-batch on each process."),
    learning_rate: float = typer.Option(None, "--learning-rate", "--lr"),
    rank: int = typer.Option(None, "--rank", help="LoRA rank."),
    resolution: int = typer.Option(None, "--resolution", help="Training resolution (bucket area = this²)."),
    train_text_encoder: bool = typer.Option(None, "--train-text-encoder/--no-train-text-encoder"),
    set_: list[str] = typer.Option(None, "--set", help="KEY=VALUE for any other setting (TOML value)."),
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Train a LoRA on Stable Diffusion from an image manifest's captions; writes diffusers + kohya files.

    Runs unchanged under `accelerate launch` (several GPUs or machines): --batch-size is per process, so one
    step sees batch-size x processes x gradient_accumulation_steps images; only the main process writes and
    prints. A checkpoint resumes on another process count (README: Training on several GPUs)."""
    from ktrain.lora.config import load_lora_config, parse_set_options
    from ktrain.lora.loop import train_lora
    from ktrain.runtime import is_main_process

    settings = {"manifest": manifest and str(manifest), "base": base, "out": out and str(out),
                "caption_col": caption_col, "text_encoder": text_encoder, "max_steps": max_steps,
                "batch_size": batch_size, "learning_rate": learning_rate, "rank": rank, "resolution": resolution,
                "train_text_encoder": train_text_encoder, **parse_set_options(set_)}
    cfg = load_lora_config(config, **settings)
    with _train_progress(not as_json and is_main_process()) as progress:
        result = train_lora(cfg, resume=resume, overwrite=overwrite, progress=progress)
    if not is_main_process():
        return  # one report per run, from the main process
    payload = result.to_dict()
    if as_json:
        from kdata.console import print_json

        print_json(payload)
        return
    from kdata.console import console, key_value_table

    keys = ("out", "steps", "resumed_from", "metrics", "cache", "distributed")
    shown = {k: payload[k] for k in keys} | payload["files"]
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
# --- kcli ingest: URL lists, local folders, random crops ------------------------------------------------
ingest_app = typer.Typer(help="Ingest images: URL lists (img2dataset-compatible), local folders, crops.",
                         no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
ResizeModeOpt = typer.Option(None, "--resize-mode", help="no | keep_ratio | keep_ratio_largest | center_crop | border.")
ImageSizeOpt = typer.Option(None, "--image-size", min=1, help="Target side in pixels for the resize mode.")
EncodeFormatOpt = typer.Option(None, "--encode-format", help="keep | jpeg | png | webp (re-encodes when not keep).")
EncodeQualityOpt = typer.Option(None, "--encode-quality", min=1, max=100, help="JPEG/WebP quality.")
StoreOpt = typer.Option(None, "--store", help="inline (bytes in the shards) | blobs (content-addressed files).")
ShardSizeOpt = typer.Option(None, "--shard-size", min=1, help="Input rows per shard (the unit of resume).")
ConfigFileOpt = typer.Option(None, "--config", help="A TOML file of settings (command-line options win).")


@ingest_app.command("urls")
def ingest_urls_cmd(
    input_path: Path = typer.Argument(..., help="URL list: .txt/.csv/.tsv/.jsonl/.parquet, optionally .gz."),
    out: Path = typer.Option(..., "--out", "-o", help="Output manifest directory."),
    url_col: str = typer.Option(None, "--url-col", help="Column holding the URL (default: url)."),
    caption_col: str = typer.Option(None, "--caption-col", help="Column holding the caption."),
    input_format: str = typer.Option(None, "--input-format", help="txt | csv | tsv | jsonl | parquet."),
    resize_mode: str = ResizeModeOpt,
    image_size: int = ImageSizeOpt,
    resize_only_if_bigger: bool = typer.Option(None, "--resize-only-if-bigger", help="Never upscale."),
    encode_format: str = EncodeFormatOpt,
    encode_quality: int = EncodeQualityOpt,
    store: str = StoreOpt,
    shard_size: int = ShardSizeOpt,
    threads: int = typer.Option(None, "--threads", min=1, help="Concurrent downloads per worker."),
    retries: int = typer.Option(None, "--retries", min=0, help="Retries on 429/5xx/network errors."),
    retry_failed: int = typer.Option(None, "--retry-failed", min=0, help="Re-runs that retry retryable failures."),
    read_timeout: float = typer.Option(None, "--timeout", help="Read timeout in seconds."),
    max_bytes: int = typer.Option(None, "--max-bytes", min=1, help="Largest download accepted."),
    per_host: int = typer.Option(None, "--per-host", min=1, help="Concurrent requests per host, per worker."),
    user_agent: str = typer.Option(None, "--user-agent", help="User-Agent header (keep it honest)."),
    allow_private: bool = typer.Option(None, "--allow-private", help="Allow loopback/private addresses."),
    config_file: Path = ConfigFileOpt,
    workers: int = WorkersOpt,
    executor: str = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    batch_size: int = BatchOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Download a URL list into an image manifest; re-running resumes and retries retryable failures."""
    options = {k: v for k, v in locals().items() if k not in ("input_path", "out", "config_file", *RUN_OPTIONS)}
    from kdata.ingest.settings import url_config
    from kdata.ingest.urls import ingest_urls

    config = url_config(input_path, options, config_file)
    with _progress("ingest urls", not as_json) as progress:
        result = ingest_urls(config, out, workers=workers, executor=executor, ray_address=ray_address,
                             batch_size=batch_size, overwrite=overwrite, progress=progress)
    _report_run(result, as_json)


@ingest_app.command("folder")
def ingest_folder_cmd(
    root: Path = typer.Argument(..., help="A folder of images (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output manifest directory."),
    mapping: str = typer.Option(None, "--mapping", help="Sidecar mapping: a shipped name (ink-painting) or a TOML."),
    metadata: Path = typer.Option(None, "--metadata", help="One CSV/JSONL/Parquet of metadata instead of sidecars."),
    file_col: str = typer.Option(None, "--file-col", help="Metadata column naming the image (default: file_name)."),
    sidecar_dir: Path = typer.Option(None, "--sidecar-dir", help="Where sidecar JSON files live, if elsewhere."),
    source: str = typer.Option(None, "--source", help="The source column for rows whose metadata has none."),
    resize_mode: str = ResizeModeOpt,
    image_size: int = ImageSizeOpt,
    encode_format: str = EncodeFormatOpt,
    encode_quality: int = EncodeQualityOpt,
    store: str = StoreOpt,
    shard_size: int = ShardSizeOpt,
    config_file: Path = ConfigFileOpt,
    workers: int = WorkersOpt,
    executor: str = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    batch_size: int = BatchOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ingest local images with per-image sidecar JSON (mapped to columns) or one metadata file."""
    options = {k: v for k, v in locals().items() if k not in ("root", "out", "config_file", *RUN_OPTIONS)}
    from kdata.ingest.folder import ingest_folder
    from kdata.ingest.settings import folder_config

    config = folder_config(root, options, config_file)
    with _progress("ingest folder", not as_json) as progress:
        result = ingest_folder(config, out, workers=workers, executor=executor, ray_address=ray_address,
                               batch_size=batch_size, overwrite=overwrite, progress=progress)
    _report_run(result, as_json)


@ingest_app.command("crop")
def ingest_crop_cmd(
    manifest: Path = typer.Argument(..., help="The image manifest to crop."),
    out: Path = typer.Option(..., "--out", "-o", help="Output manifest directory."),
    short_side: int = typer.Option(None, "--short-side", min=1, help="Resize the short side to this first."),
    size: int = typer.Option(None, "--size", min=1, help="Side of the square crops."),
    crops: int = typer.Option(None, "--crops", min=1, help="Random crops per image."),
    seed: int = typer.Option(None, "--seed", help="Seed (with each key) for the crop offsets."),
    encode_format: str = typer.Option(None, "--encode-format", help="jpeg | png | webp."),
    encode_quality: int = EncodeQualityOpt,
    store: str = StoreOpt,
    workers: int = WorkersOpt,
    executor: str = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    batch_size: int = BatchOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Random square crops after a short-side resize (a LoRA data recipe), one row per crop."""
    options = {k: v for k, v in locals().items() if k not in ("manifest", "out", *RUN_OPTIONS)}
    from kdata.ingest.crop import crop_manifest
    from kdata.ingest.settings import crop_config
    from kdata.manifest import open_manifest

    config = crop_config(options)
    parent = open_manifest(manifest)
    with _progress("ingest crop", not as_json) as progress:
        result = crop_manifest(parent, config, out, workers=workers, executor=executor, ray_address=ray_address,
                               batch_size=batch_size, overwrite=overwrite, progress=progress)
    _report_run(result, as_json)


@app.command()
def publish(
    manifest: Path = typer.Argument(..., help="The image manifest to publish (only its ok rows go out)."),
    repo_id: str = typer.Option(None, "--repo-id", help="Upload to this Hub dataset repository (ORG/NAME)."),
    private: bool = typer.Option(False, "--private", help="Create the Hub repository as private."),
    to: Path = typer.Option(None, "--to", help="Export to this folder: exactly the files an upload sends."),
    keep_exif: bool = typer.Option(False, "--keep-exif", help="Keep EXIF/XMP/IPTC metadata (stripped by default)."),
    shard_size_mb: float = typer.Option(500, "--shard-size-mb", help="Target size of each Parquet file, in MB."),
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Export a manifest as a Hub dataset (Parquet shards + dataset card) and/or upload it to the Hub."""
    from kdata.publish import PublishConfig
    from kdata.publish.publish import check_publish, publish_manifest

    config = PublishConfig(keep_exif=keep_exif, shard_size_mb=shard_size_mb, repo_id=repo_id)
    check_publish(manifest, config, to, private)  # refuse before the progress bar starts
    with _progress("publish", not as_json) as progress:
        outcome = publish_manifest(
            manifest, config, to=to, private=private, overwrite=overwrite, progress=progress, checked=True
        )
    if as_json:
        from kdata.console import print_json

        print_json(outcome)
        return
    from kdata.console import console, key_value_table, stats_table

    export = outcome["export"]
    summary = {"folder": export["path"], "rows": f"{export['rows']:,}", "files": len(export["files"])}
    if export["up_to_date"]:
        summary["note"] = "already up to date (same manifest and settings)"
    if "upload" in outcome:
        summary["uploaded to"] = outcome["upload"]["repo_url"]
    console.print(stats_table(export["counters"], title="export"))
    console.print(key_value_table(summary, title="publish"))


@app.command()
def report(
    manifest: Path = typer.Argument(..., help="The image manifest to show."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the report (index.html and its files)."),
    limit: int = typer.Option(5000, "--limit", min=1, help="Most rows in the grid (a key-hash sample beyond)."),
    as_json: bool = JsonOpt,
) -> None:
    """Write a static HTML report: thumbnails, facets, sorting, score histograms, captions, lineage."""
    from kdata.report import write_report

    with _progress("report", not as_json) as progress:
        result = write_report(manifest, out, limit=limit, progress=progress)
    if as_json:
        from kdata.console import print_json

        print_json(result.to_dict())
        return
    typer.echo(f"report: {result.index} ({result.shown:,} of {result.rows:,} rows in the grid)")


@app.command()
def view(
    manifest: Path = typer.Argument(..., help="The image manifest to browse."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
    limit: int = typer.Option(5000, "--limit", min=1, help="Most rows in the grid (a key-hash sample beyond)."),
    as_json: bool = JsonOpt,
) -> None:
    """Build the report (under the kcli home) and serve it on 127.0.0.1 until Ctrl-C."""
    from kdata.report import write_report
    from kdata.report.serve import ReportServer, report_dir

    server = ReportServer(report_dir(manifest), port)  # a busy port is refused before any work
    with _progress("report", not as_json) as progress:
        result = write_report(manifest, server.root, limit=limit, progress=progress)
    if as_json:
        from kdata.console import print_json

        print_json({"url": server.url, "report": str(result.path)})
    else:
        typer.echo(f"serving {result.path} at {server.url} (Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")


# --- kcli crawl: pages with scrapy (+ Chromium for JavaScript), images through the ingest downloader ----
@app.command("crawl")
def crawl_cmd(
    seeds: list[str] = typer.Argument(None, help="Seed page URLs or sitemaps (.xml); or seeds in --config."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: pages/ and images/ manifests."),
    config_file: Path = typer.Option(None, "--config", help="A TOML file of crawl settings (options win)."),
    allowed_domains: list[str] = typer.Option(None, "--allowed-domain", help="Domains to stay on (default: seeds')."),
    max_depth: int = typer.Option(None, "--max-depth", min=0, help="Links followed from a seed (default 3)."),
    max_pages: int = typer.Option(None, "--max-pages", min=0, help="Page requests in all (0: no limit)."),
    max_images: int = typer.Option(None, "--max-images", min=0, help="Distinct images collected (0: no limit)."),
    include: list[str] = typer.Option(None, "--include", help="Regex a page URL must match (repeatable)."),
    exclude: list[str] = typer.Option(None, "--exclude", help="Regex of page URLs not to fetch (repeatable)."),
    js: list[str] = typer.Option(None, "--js", help="Regex of pages to render in Chromium and scroll (repeatable)."),
    allow_private: bool = typer.Option(None, "--allow-private", help="Allow loopback/private addresses."),
    workers: int = WorkersOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Crawl pages politely (robots.txt, noai, delays) and collect their images with page context."""
    options = {k: v for k, v in locals().items() if k not in ("seeds", "out", "config_file", "workers",
                                                              "overwrite", "as_json")}
    from kdata.console import step_progress
    from kdata.crawl.config import crawl_config
    from kdata.crawl.run import crawl

    config = crawl_config(seeds or [], options, config_file)
    with step_progress("crawl", not as_json) as on_step:
        def progress(event) -> None:  # noqa: ANN001 - a kdata.crawl.run.CrawlProgress
            if on_step is not None:
                on_step(f"{event.phase}: {event.detail}", event.done, event.total)

        result = crawl(config, out, workers=workers, overwrite=overwrite, progress=progress)
    if as_json:
        from kdata.console import print_json

        print_json(result.to_dict())
        return
    from kdata.console import console, stats_table

    console.print(stats_table(result.page_stats, title=f"pages: {result.pages.path}"))
    console.print(stats_table(result.images.stats, title=f"images: {result.images.manifest.path}"))
    if result.resumed:
        console.print("resumed an earlier run of this crawl")


@app.command()
def caption(
    manifest: Path = typer.Argument(..., help="The image manifest to caption."),
    config: Path = typer.Option(..., "--config", "-c", help="Caption config TOML (backends per language)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output manifest directory."),
    workers: int = WorkersOpt,
    executor: str = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    batch_size: int = BatchOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add caption_en / caption_ko with provenance: templates, alt text, captioners, translators."""
    from kdata.caption.stage import prepare_caption

    job = prepare_caption(manifest, config)  # columns and config checked before the bar and any model
    with _progress("caption", not as_json) as progress:
        result = job.run(out, workers=workers, executor=executor, ray_address=ray_address, batch_size=batch_size,
                         overwrite=overwrite, progress=progress)
    _report_run(result, as_json)


corpus_app = typer.Typer(help="Korean-English parallel corpus: build a cleaned, split manifest.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("build")
def corpus_build(
    inputs: list[Path] = typer.Argument(..., help="CSV / TSV / JSONL / XLSX files of sentence pairs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output parallel manifest directory."),
    ko_col: str = typer.Option(None, "--ko-col", help="Korean column (default: 원문/번역문, ko/en, korean/english)."),
    en_col: str = typer.Option(None, "--en-col", help="English column (default: detected with --ko-col's rules)."),
    val_fraction: float = typer.Option(0.05, "--val-fraction", min=0.0, max=0.99, help="Share of pairs in validation."),
    workers: int = WorkersOpt,
    executor: str = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Read sentence pairs, drop empty / identical / wrong-script / length-ratio / duplicate ones, split."""
    from kdata.corpus.build import prepare_corpus_build

    job = prepare_corpus_build(inputs, ko_col=ko_col, en_col=en_col, val_fraction=val_fraction)
    with _progress("corpus build", not as_json) as progress:
        result = job.run(out, workers=workers, executor=executor, ray_address=ray_address, overwrite=overwrite,
                         progress=progress)
    _report_run(result, as_json)


@app.command("filter")
def filter_manifest(
    manifest: Path = typer.Argument(..., help="The image manifest to filter."),
    config: Path = typer.Option(None, "--config", "-c", help="Filter config TOML (default: the packaged one)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output manifest directory (the report goes in OUT/report)."),
    workers: int = WorkersOpt,
    executor: str = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    batch_size: int = BatchOpt,
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Score quality, text, CLIP similarity, aesthetics and safety; dedup; keep or reject every row with a reason."""
    from kdata.filter.config import load_filter_config
    from kdata.filter.run import run_filter

    filter_config = load_filter_config(config)
    with _progress("filter", not as_json) as progress:
        result = run_filter(manifest, filter_config, out, workers=workers, executor=executor, ray_address=ray_address,
                            batch_size=batch_size, overwrite=overwrite, progress=progress)
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


# Korean text encoder: `kcli tokenizer train`, `kcli train encoder`, `kcli eval encoder`. The `train` and `eval`
# groups are shared: other trainers add their commands (`train lora`, `eval t2i`) to the same two Typers.
tokenizer_app = typer.Typer(help="Korean tokenizers in CLIP's format.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models: the Korean encoder on held-out pairs, text-to-image pipelines.",
                       no_args_is_help=True)
app.add_typer(tokenizer_app, name="tokenizer")
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
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Pairs per micro-batch on each process."),
    learning_rate: float = typer.Option(None, "--lr", help="Peak learning rate."),
    seed: int = typer.Option(None, "--seed", help="Seed for init, data order and noise."),
    settings: list[str] = typer.Option(None, "--set", help="Any config setting as KEY=VALUE (repeatable)."),
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Distil the teacher's English text encoder into a Korean student that drops into diffusers.

    Runs unchanged under `accelerate launch` (several GPUs or machines): --batch-size is per process, so one
    step sees batch-size x processes x gradient_accumulation_steps pairs; only the main process writes and
    prints. A checkpoint resumes on another process count (README: Training on several GPUs)."""
    from kdata.console import step_progress
    from ktrain.encoder.config import load_train_config, parse_overrides
    from ktrain.encoder.loop import train_encoder as run_training
    from ktrain.runtime import is_main_process

    options = {"pairs": pairs and str(pairs), "teacher": teacher, "out": out and str(out), "tokenizer": tokenizer,
               "max_steps": max_steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    resolved = load_train_config(config, parse_overrides(settings), **options)
    with step_progress("train encoder", not as_json and is_main_process()) as bar:
        def on_step(event) -> None:  # noqa: ANN001 - a ktrain.encoder.loop.TrainProgress
            if bar is not None:
                bar(f"loss {event.loss:.4f}", event.step, event.total)

        result = run_training(resolved, resume=resume, overwrite=overwrite, progress=on_step)
    if is_main_process():  # one report per run
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


# --- kcli eval t2i / kcli serve: Korean-encoder pipeline vs translate-then-generate, and the web demo ------


@eval_app.command("t2i")
def eval_t2i_cmd(
    base: str = typer.Option(..., "--base", help="SD 1.x base: diffusers folder, Hub id or tiny-sd."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for images, eval.csv, report.md and report.html."),
    prompts: Path = typer.Option(None, "--prompts", help="JSONL of id/category/ko/en (default: the bundled set)."),
    pipelines: str = typer.Option("ko-encoder,translate", "--pipelines",
                                  help="Comma-separated: ko-encoder, translate, english-reference."),
    text_encoder: str = typer.Option(None, "--text-encoder", help="Korean CLIPTextModel folder (kcli train encoder)."),
    translator: str = typer.Option(None, "--translator", help="Ko→en seq2seq model (default facebook/m2m100_418M)."),
    english_clip: str = typer.Option(None, "--english-clip", help="CLIP scoring against the English prompt."),
    korean_clip: str = typer.Option(None, "--korean-clip", help="CLIP scoring against the Korean prompt."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N prompts."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first prompt; prompt i uses seed + i in every pipeline."),
    steps: int = typer.Option(30, "--steps", min=1, help="Denoising steps."),
    guidance: float = typer.Option(7.5, "--guidance", help="Classifier-free guidance scale."),
    negative_prompt: str = typer.Option("", "--negative-prompt"),
    size: int = typer.Option(None, "--size", min=8, help="Image side in pixels (default: the base's native size)."),
    warmup: int = typer.Option(1, "--warmup", min=0, help="Unrecorded renders per pipeline before timing."),
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Each prompt through each pipeline (same seeds): per-stage latency, CLIP scores, image grid, eval.csv."""
    from ktrain.t2i.evaluate import T2IEvalConfig, evaluate_t2i

    models = {k: v for k, v in (("translator", translator), ("english_clip", english_clip),
                                ("korean_clip", korean_clip)) if v}
    config = T2IEvalConfig(base=base, out=str(out), pipelines=pipelines.split(","),
                           prompts=prompts and str(prompts), text_encoder=text_encoder, limit=limit, seed=seed,
                           steps=steps, guidance=guidance, negative_prompt=negative_prompt, height=size, width=size,
                           warmup=warmup, **models)
    with _step_progress("eval t2i", not as_json) as update:
        result = evaluate_t2i(config, overwrite=overwrite,
                              progress=update and (lambda done, total, label: update(label, done, total)))
    if as_json:
        from kdata.console import print_json

        print_json(result.to_dict())
        return
    from kdata.console import console, rows_table

    metrics = ("text_stage_s", "denoise_s", "decode_s", "total_s", "clip_en", "clip_ko")
    rows = [(s["pipeline"], *(f"{s[m + '_median']:.4f}" for m in metrics)) for s in result.summary]
    console.print(rows_table(("pipeline", *(f"{m} median" for m in metrics)), rows, title="eval t2i"))
    console.print(f"{len(result.rows)} rows ({result.skipped} already done): {result.csv}, {result.report_html}")


@app.command()
def serve(
    base: str = typer.Option(..., "--base", help="SD 1.x base: diffusers folder, Hub id or tiny-sd."),
    text_encoder: str = typer.Option(None, "--text-encoder", help="Korean CLIPTextModel folder (kcli train encoder)."),
    lora: list[str] = typer.Option(None, "--lora", help="NAME=PATH of a LoRA users may pick; repeatable."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(7860, "--port", min=0, max=65535, help="Port (0 picks a free one)."),
    max_queue: int = typer.Option(8, "--max-queue", min=0, help="Requests that may wait; more are told to retry."),
    max_steps: int = typer.Option(50, "--max-steps", min=1, help="Most denoising steps a request may ask for."),
    max_prompt_chars: int = typer.Option(200, "--max-prompt-chars", min=1, help="Longest prompt accepted."),
    max_image_size: int = typer.Option(768, "--max-image-size", min=8, help="Largest width or height accepted."),
    as_json: bool = JsonOpt,
) -> None:
    """Web demo: Korean prompt, LoRAs with weights, seed/steps/guidance; the image with per-stage timings."""
    from ktrain.t2i.serve.engine import parse_lora_options
    from ktrain.t2i.serve.limits import ServeLimits
    from ktrain.t2i.serve.server import ServeConfig
    from ktrain.t2i.serve.server import serve as run_server

    limits = ServeLimits(max_prompt_chars=max_prompt_chars, max_steps=max_steps, max_image_size=max_image_size,
                         max_queue=max_queue)
    config = ServeConfig(base, text_encoder, parse_lora_options(lora or []), host, port, limits)

    def ready(url: str) -> None:
        if as_json:
            from kdata.console import print_json

            print_json({"url": url, "base": base, "text_encoder": text_encoder, "loras": config.loras})
        else:
            typer.echo(f"serving {base} at {url} (Ctrl-C to stop)")
        sys.stdout.flush()

    import contextlib

    with contextlib.suppress(KeyboardInterrupt):  # uvicorn itself shuts down gracefully on Ctrl-C and returns
        run_server(config, on_ready=ready)
    if not as_json:
        typer.echo("stopped")


def _step_progress(description: str, enabled: bool):  # noqa: ANN202 - a context manager from kdata.console
    from kdata.console import step_progress

    return step_progress(description, enabled)


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
