"""The ``kcli`` application: its commands in pipeline order, and the one place errors become messages.

Commands live in one module per group (``collect``, ``curate``, ``corpus``, ``train``, ``generate``,
``evaluate``, ``models``, ``demo``); each parses options, calls one library function and shows the result.
Heavy libraries (torch, transformers, diffusers) are imported inside command bodies only, so ``kcli --help``
answers instantly. User errors (:class:`KcliError`) become a one-line message and an exit code here.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from kcli import collect, corpus, curate, demo, evaluate, generate, index, interop, models, publish, train
from kdata import __version__
from kdata.errors import KcliError

# The order of `kcli --help`: the data pipeline first, then text and models, then set-up.
PIPELINE_ORDER = ("crawl", "ingest", "import", "verify", "inspect", "filter", "caption", "report", "view",
                  "publish", "export", "corpus", "tokenizer", "train", "generate", "eval", "serve", "index", "models",
                  "demo")
DATA, MODELS, SETUP = "Images: collect, curate, publish", "Text and models: train, generate, evaluate", "Set-up"


class PipelineOrderGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(self.commands, key=lambda name: (PIPELINE_ORDER + (name,)).index(name))


app = typer.Typer(
    name="kcli",
    cls=PipelineOrderGroup,
    help="Korean-aware image datasets and the models that draw from Korean prompts.\n\n"
    "Stages read a Parquet manifest and write a new one; re-running a command resumes it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version.")] = False,
) -> None:
    """Korean-aware image datasets and the models that draw from Korean prompts."""
    from kdata.quiet import silence_third_party_progress

    silence_third_party_progress()  # kcli draws its own bars; before any command imports a library that draws some


app.command(rich_help_panel=DATA)(collect.crawl)
app.add_typer(collect.ingest_app, name="ingest", rich_help_panel=DATA)
app.command("import", rich_help_panel=DATA)(interop.import_)
app.command(rich_help_panel=DATA)(collect.verify)
app.command(rich_help_panel=DATA)(curate.inspect)
app.command("filter", rich_help_panel=DATA)(curate.filter)
app.command(rich_help_panel=DATA)(curate.caption)
app.command(rich_help_panel=DATA)(curate.report)
app.command(rich_help_panel=DATA)(curate.view)
app.add_typer(publish.publish_app, name="publish", rich_help_panel=DATA)
app.command(rich_help_panel=DATA)(interop.export)
app.add_typer(corpus.corpus_app, name="corpus", rich_help_panel=MODELS)
app.add_typer(train.tokenizer_app, name="tokenizer", rich_help_panel=MODELS)
app.add_typer(train.train_app, name="train", rich_help_panel=MODELS)
app.command(rich_help_panel=MODELS)(generate.generate)
app.add_typer(evaluate.eval_app, name="eval", rich_help_panel=MODELS)
app.command(rich_help_panel=MODELS)(generate.serve)
app.add_typer(index.index_app, name="index", rich_help_panel=MODELS)
app.add_typer(models.models_app, name="models", rich_help_panel=SETUP)
app.command(rich_help_panel=SETUP)(demo.demo)


def main() -> None:
    """Console-script entry point: turn user errors into one-line messages, never tracebacks."""
    try:
        app()
    except KcliError as exc:
        from kcli.output import print_error

        print_error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        from kcli.output import print_error

        print_error("interrupted; re-run the same command to resume where it stopped")
        sys.exit(130)


if __name__ == "__main__":
    main()
