"""``kcli models list|build|fetch``: the offline tiny presets every model family has, and pinned downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kcli.options import AsJson
from kcli.output import emit

models_app = typer.Typer(help="Models: list or build the offline tiny presets; fetch the filter's score heads.",
                         no_args_is_help=True)


@models_app.command("list")
def list_presets(as_json: AsJson = False) -> None:
    """List the offline tiny presets, their model family, and whether they are built in the kcli home."""
    from kcli.output import console, rows_table
    from kdata.models.presets import get_preset, is_built, list_presets, preset_path

    presets = [
        {"name": n, "family": get_preset(n).family, "description": get_preset(n).description,
         "built": is_built(n), "path": str(preset_path(n))}
        for n in list_presets()
    ]
    rows = [(p["name"], p["family"], p["description"], p["path"] if p["built"] else "(not built)") for p in presets]
    emit(presets, as_json, lambda _: console.print(rows_table(("preset", "family", "what", "where"), rows,
                                                              title="tiny presets")))


@models_app.command("build")
def build_presets(names: Annotated[list[str] | None, typer.Argument(help="Preset names (default: all).")] = None,
                  ) -> None:
    """Build tiny presets (deterministic random weights) into the kcli home for offline use."""
    from kdata.models import ensure_preset, list_presets

    for name in names or list_presets():
        typer.echo(f"{name}: {ensure_preset(name)}")


@models_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="What to fetch: laion-aesthetic-vit-l-14 (an unknown name lists all).")],
    to: Annotated[Path | None, typer.Option("--to", help="Folder to save it in (default: <kcli home>/assets).")] = None,
    as_json: AsJson = False,
) -> None:
    """Download a pinned model file (LAION's aesthetic head), check its sha256, and name the setting that uses it.

    Tries the Hub and plain URLs in turn; a file already there that matches is not fetched again, and one put
    there by hand is verified the same way. With HF_HUB_OFFLINE=1 nothing is downloaded.
    """
    from kdata.models.assets import fetch_asset

    emit(fetch_asset(name, to), as_json, _show_fetch)


def _show_fetch(result: Any) -> None:
    where = f"downloaded from {result.source}" if result.source else "already there, sha256 verified"
    typer.echo(f"{result.name}: {where}")
    typer.echo(f"  file:   {result.path} ({result.size:,} bytes, sha256 {result.sha256}, {result.license})")
    typer.echo(f"  filter: {result.setting_line}")
