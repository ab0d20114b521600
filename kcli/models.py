"""``kcli models list|build``: the offline tiny presets every model family has."""

from __future__ import annotations

from typing import Annotated

import typer

from kcli.options import AsJson
from kcli.output import emit

models_app = typer.Typer(help="Model presets: list them, or build the offline tiny ones.", no_args_is_help=True)


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
