"""``kcli demo``: the whole pipeline, offline, on the bundled samples and tiny model presets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kcli.options import AsJson
from kcli.output import emit


def demo(
    workdir: Annotated[Path, typer.Option(help="Where every demo output is written.")] = Path("kcli-demo"),
    as_json: AsJson = False,
) -> None:
    """Run the whole pipeline offline on the bundled samples with tiny model presets; re-running resumes."""
    from kcli.demo_steps import run_demo, summary_rows
    from kcli.output import console, progress_bars, rows_table

    with progress_bars(not as_json) as progress:
        results = run_demo(workdir, progress=progress)

    def show(results: list) -> None:
        console.print(rows_table(("step", "time", "output", "summary"), summary_rows(results), title="kcli demo"))
        console.print(f"everything is under {workdir.resolve()} (summary.json lists it)")

    emit(results, as_json, show)
