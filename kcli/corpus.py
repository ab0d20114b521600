"""``kcli corpus build``: a cleaned, split Korean-English parallel corpus manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kcli.option_groups import StageFlags, stage_options
from kcli.options import Out

corpus_app = typer.Typer(help="Korean-English parallel corpus: build a cleaned, split manifest.", no_args_is_help=True)


@corpus_app.command("build")
@stage_options
def build(
    inputs: Annotated[list[Path], typer.Argument(help="CSV / TSV / JSONL / XLSX files of sentence pairs.")],
    out: Out,
    ko_col: Annotated[str | None, typer.Option(help="Korean column (default: 원문/번역문, ko/en, "
                                                  "korean/english).")] = None,
    en_col: Annotated[str | None, typer.Option(help="English column (default: detected with --ko-col's "
                                                  "rules).")] = None,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=0.99, help="Share of pairs in validation.")] = 0.05,
    *,
    flags: StageFlags,
) -> None:
    """Read sentence pairs, drop empty / identical / wrong-script / length-ratio / duplicate ones, split."""
    from kdata.corpus.build import run_corpus_build

    # The inputs are read and checked before the first bar.
    flags.run(run_corpus_build, inputs, out, ko_col=ko_col, en_col=en_col, val_fraction=val_fraction)
