"""The ``kcli`` application: its commands in pipeline order, and the one place errors become messages.

Commands live in one module per group (``collect``, ``curate``, ``corpus``, ``train``, ``generate``,
``evaluate``, ``models``, ``demo``, ``inspect_command``); each parses options, calls one library function
and shows the result. A command's module is imported when that command runs, and heavy libraries (torch,
transformers, diffusers) inside command bodies only, so ``kcli --help`` answers instantly. User errors
(:class:`KcliError`) become a one-line message and an exit code here.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any, NamedTuple

import typer
from typer.core import TyperGroup

from kdata import __version__
from kdata.errors import KcliError
from kdata.lifetime import freeze_at_exit

DATA, MODELS, SETUP = "Images: collect, curate, publish", "Text and models: train, generate, evaluate", "Set-up"


class Entry(NamedTuple):
    """Where a command lives: ``module.attribute`` is a command function, or a ``typer.Typer`` of subcommands."""

    module: str
    attribute: str
    panel: str


# The commands in the order of `kcli --help`: the data pipeline first, then text and models, then set-up. A
# command's module is imported only when that command runs (or help lists it), so `kcli inspect` does not
# pay for the trainers' and the crawler's option modules.
COMMANDS = {
    "crawl": Entry("kcli.collect", "crawl", DATA),
    "ingest": Entry("kcli.collect", "ingest_app", DATA),
    "import": Entry("kcli.interop", "import_", DATA),
    "verify": Entry("kcli.collect", "verify", DATA),
    "inspect": Entry("kcli.inspect_command", "inspect", DATA),
    "filter": Entry("kcli.curate", "filter", DATA),
    "caption": Entry("kcli.curate", "caption", DATA),
    "report": Entry("kcli.curate", "report", DATA),
    "view": Entry("kcli.curate", "view", DATA),
    "publish": Entry("kcli.publish", "publish_app", DATA),
    "export": Entry("kcli.interop", "export", DATA),
    "corpus": Entry("kcli.corpus", "corpus_app", MODELS),
    "tokenizer": Entry("kcli.train", "tokenizer_app", MODELS),
    "train": Entry("kcli.train", "train_app", MODELS),
    "generate": Entry("kcli.generate", "generate", MODELS),
    "eval": Entry("kcli.evaluate", "eval_app", MODELS),
    "serve": Entry("kcli.generate", "serve", MODELS),
    "index": Entry("kcli.index", "index_app", MODELS),
    "models": Entry("kcli.models", "models_app", SETUP),
    "demo": Entry("kcli.demo", "demo", SETUP),
}
PIPELINE_ORDER = tuple(COMMANDS)


def load_command(name: str) -> Any:
    """The click command for ``name``, built from its module the first time it is asked for."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even with one subcommand, as add_typer makes it
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name=name)(target)
        command = typer.main.get_command(single)  # one command and no callback: the command itself
    command.name = name
    command.rich_help_panel = entry.panel  # type: ignore[attr-defined] - read by typer's rich help
    return command


class PipelineGroup(TyperGroup):
    """The root group: commands listed in pipeline order and loaded on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*COMMANDS, *self.commands}, key=lambda name: (PIPELINE_ORDER + (name,)).index(name))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands.get(cmd_name)


app = typer.Typer(
    name="kcli",
    cls=PipelineGroup,
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


def main() -> None:
    """Console-script entry point: turn user errors into one-line messages, never tracebacks."""
    freeze_at_exit()
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
