"""``kcli import`` and ``kcli export``: datasets in from, and out to, the tools users already have.

Export is its own command rather than ``kcli publish --format``: publish makes a Hub dataset (Parquet, a
card, an upload) and its options are about that (``--repo-id``, ``--private``); webdataset shards and a
kohya folder are training inputs with options of their own (shard size; caption column, repeats and
concept). Two verbs read better in ``kcli --help`` than one command whose options apply to some formats only.
Paths are taken as text, so ``s3://``, ``gs://``, ``hf://`` and ``memory://`` URLs pass through unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kcli.option_groups import ImageFlags, SettingsFlags, StageFlags, image_options, settings_options, stage_options
from kcli.options import AsJson, BlobDirs, Overwrite

PathOrUrl = Annotated[str, typer.Option("--out", "-o", help="Output folder: a local path or an fsspec URL (s3://, "
                                        "gs://, hf://, memory://).")]


def _local_or_url(value: str) -> str:
    from kdata.fspath import is_remote

    return value if is_remote(value) or not Path(value).exists() else str(Path(value).resolve())


@stage_options
@settings_options
@image_options
def import_(
    source: Annotated[str, typer.Argument(help="img2dataset output, webdataset .tar shards, a Hugging Face dataset "
                                          "(save_to_disk folder or Hub id), a kohya folder or Parquet with "
                                          "images; local or an fsspec URL.")],
    out: PathOrUrl,
    format: Annotated[str | None, typer.Option("--format", "-f", help="auto | img2dataset | webdataset | hf | kohya "
                                               "| parquet (default auto: read from the layout).")] = None,
    image_col: Annotated[str | None, typer.Option(help="Column holding the image (bytes or {bytes, path}); default: "
                                                  "jpg, image, ... or the first bytes column.")] = None,
    caption_col: Annotated[str | None, typer.Option(help="Column holding the caption (default: caption, txt, text, "
                                                    "prompt ...).")] = None,
    split: Annotated[str | None, typer.Option(help="Hugging Face datasets: one split (default: every split).")]
    = None,
    *,
    settings: SettingsFlags,
    image: ImageFlags,
    flags: StageFlags,
) -> None:
    """Import a dataset made by another tool as an image manifest; images are taken as they are, never re-downloaded.

    Captions become caption_ko / caption_en by script (alt_text when neither) and source columns are kept.

    A broken sample is a failed row with its reason; re-running resumes."""
    from kdata.config import layered_config
    from kdata.interop.stage import ImportConfig, import_dataset

    named: dict[str, Any] = {"source": _local_or_url(source), "format": format, "image_col": image_col,
                             "caption_col": caption_col, "split": split, "store": image.store,
                             "shard_size": image.shard_size}
    pictures = {k: v for k, v in image.named().items() if k not in ("store", "shard_size") and v is not None}
    if pictures:
        named["image"] = pictures
    config = layered_config(ImportConfig, settings.config, {k: v for k, v in named.items() if v is not None},
                            settings.sets, "import")
    flags.run(import_dataset, config, out)


def export(
    manifest: Annotated[str, typer.Argument(help="The image manifest to export (only its ok rows go out); local or "
                                            "an fsspec URL.")],
    out: PathOrUrl,
    format: Annotated[str, typer.Option("--format", "-f", help="webdataset (.tar shards: image + .txt + .json per "
                                        "key) | kohya (image + same-stem .txt).")] = "webdataset",
    caption_col: Annotated[str | None, typer.Option(help="Caption column (default: per row, the first set of "
                                                    "caption_ko, caption_en, caption, alt_text).")] = None,
    language: Annotated[str | None, typer.Option(help="ko | en: shorthand for --caption-col caption_ko / "
                                                 "caption_en.")] = None,
    shard_size_mb: Annotated[float, typer.Option(help="webdataset: target size of each tar, in MB.")] = 500,
    repeats: Annotated[int | None, typer.Option(min=1, help="kohya: the N of an N_concept folder.")] = None,
    concept: Annotated[str | None, typer.Option(help="kohya: write into <repeats>_<concept>/ (default: the "
                                                "folder itself).")] = None,
    keep_exif: Annotated[bool, typer.Option("--keep-exif", help="Keep EXIF/XMP/IPTC (stripped by default).")]
    = False,
    blob_dir: BlobDirs = None,
    overwrite: Overwrite = False,
    as_json: AsJson = False,
) -> None:
    """Export a manifest's kept rows as webdataset shards (OpenCLIP, NeMo) or a kohya folder (sd-scripts, OneTrainer).

    Keys stay the manifest's; re-running with the same manifest and settings does nothing."""
    from kdata.errors import ConfigError
    from kdata.interop.export import ExportConfig, export_manifest
    from kdata.manifest import open_manifest

    if language is not None:
        if language not in ("ko", "en") or caption_col is not None:
            raise ConfigError("--language takes ko or en, and not together with --caption-col")
        caption_col = f"caption_{language}"
    config = ExportConfig(format=format, caption_col=caption_col, shard_size_mb=shard_size_mb, repeats=repeats,
                          concept=concept, keep_exif=keep_exif)
    opened = open_manifest(_local_or_url(manifest), blob_dirs=blob_dir or [])
    # One sequential pass over the shards, as publish's export: of the run options only these two apply.
    StageFlags(overwrite=overwrite, as_json=as_json).run(export_manifest, opened, out, config, show=show_export)


def show_export(result: Any) -> None:
    from kcli.output import console, key_value_table, stats_table

    summary = {"folder": str(result.path), "format": result.format, "samples": f"{result.rows:,}",
               "files": len(result.files)}
    if result.pattern:
        summary["shards"] = result.pattern
    if result.up_to_date:
        summary["note"] = "already up to date (same manifest and settings)"
    console.print(stats_table(result.counters, title="export"))
    console.print(key_value_table(summary, title="export"))
