"""``kcli inspect``: a manifest's (or any Parquet's) summary, as tables or ``--json``.

A module of its own, importing only what the summary needs: inspecting a large manifest should cost its
reading, not the start-up of every stage's options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kcli.options import AsJson, BlobDirs
from kcli.output import emit


def inspect(
    manifest: Annotated[Path, typer.Argument(help="A manifest directory, or a Parquet file or folder (a Hub "
                                             "export, another tool's output).")],
    samples: Annotated[int, typer.Option("--samples", min=0, help="Sample rows to show as records.")] = 3,
    head: Annotated[int, typer.Option("--head", min=0, help="Show the first N rows as a table.")] = 0,
    blob_dir: BlobDirs = None,
    as_json: AsJson = False,
) -> None:
    """Schema, row count, lineage, status/reason funnel, column summaries (value counts for categories) and
    sample rows; plain Parquet too."""
    from kdata.inspect import inspect_manifest
    from kdata.manifest import DESCRIPTOR, open_manifest

    show = None
    if not as_json:
        from kcli.inspect_view import render_inspect as show  # rich tables, not loaded for --json
    # A kcli manifest is opened with its --blob-dir stores; anything else is read as plain Parquet.
    is_manifest = (manifest / DESCRIPTOR).is_file()
    source = open_manifest(manifest, blob_dirs=blob_dir or [], check_rows=False) if is_manifest else manifest
    emit(inspect_manifest(source, samples=samples, head=head), as_json, show)
