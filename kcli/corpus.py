"""``kcli corpus build``: a cleaned, split Korean-English parallel corpus manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kcli.option_groups import StageFlags, option_group, stage_options
from kcli.options import Out

if TYPE_CHECKING:
    from kdata.corpus.limits import CorpusLimits

corpus_app = typer.Typer(help="Korean-English parallel corpus: build a cleaned, split manifest.", no_args_is_help=True)


@dataclass(frozen=True)
class LimitFlags:
    """How far an input may expand (defaults in kdata.corpus.limits.CorpusLimits: Excel's own limits, 512 MiB,
    100x packing, 100 JSON levels); an input over one is refused in one line naming the option to raise."""

    max_xlsx_rows: Annotated[int | None, typer.Option(min=1, help="Most rows an XLSX sheet may have.")] = None
    max_cell_chars: Annotated[int | None, typer.Option(min=1, help="Longest XLSX cell, in characters.")] = None
    max_xlsx_bytes: Annotated[int | None, typer.Option(min=1, help="Most bytes an XLSX may inflate to.")] = None
    max_xlsx_ratio: Annotated[float | None, typer.Option(min=1.0, help="Most an XLSX part may inflate, as a "
                                                         "multiple of its packed size.")] = None
    max_json_depth: Annotated[int | None, typer.Option(min=1, help="Deepest JSON nesting in a JSONL or JSON "
                                                       "input.")] = None

    def limits(self) -> CorpusLimits:
        from kdata.corpus.limits import CorpusLimits

        return CorpusLimits(**{k: v for k, v in dataclasses.asdict(self).items() if v is not None})


limit_options = option_group(LimitFlags, "limits")


@corpus_app.command("build")
@stage_options
@limit_options
def build(
    inputs: Annotated[list[Path], typer.Argument(help="CSV / TSV / JSONL / JSON / XLSX files of sentence pairs.")],
    out: Out,
    ko_col: Annotated[str | None, typer.Option(help="Korean column (default: 원문/번역문, ko/en, "
                                                  "korean/english).")] = None,
    en_col: Annotated[str | None, typer.Option(help="English column (default: detected with --ko-col's "
                                                  "rules).")] = None,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=0.99, help="Share of pairs in validation.")] = 0.05,
    *,
    limits: LimitFlags,
    flags: StageFlags,
) -> None:
    """Read sentence pairs, drop empty / identical / wrong-script / length-ratio / duplicate ones, split."""
    from kdata.corpus.build import run_corpus_build

    # The inputs are read and checked before the first bar.
    flags.run(run_corpus_build, inputs, out, ko_col=ko_col, en_col=en_col, val_fraction=val_fraction,
              limits=limits.limits())
