"""``kcli publish``: a dataset (the default, ``kcli publish MANIFEST``) or a trained model (``publish model``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from kcli import curate
from kcli.options import AsJson
from kcli.output import emit

DEFAULT_COMMAND = "dataset"


class DatasetByDefaultGroup(TyperGroup):
    """``kcli publish MANIFEST …`` keeps meaning ``kcli publish dataset MANIFEST …``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


publish_app = typer.Typer(
    cls=DatasetByDefaultGroup, no_args_is_help=True,
    help="Release to the Hugging Face Hub: a dataset (the default: `kcli publish MANIFEST`) or a trained model "
    "(`kcli publish model FOLDER`).")
publish_app.command(DEFAULT_COMMAND)(curate.publish)


@publish_app.command("model")
def model(
    folder: Annotated[Path, typer.Argument(help="A `kcli train lora` --out folder, or an encoder export "
                                           "(best/ or final/ of `kcli train encoder`).")],
    repo_id: Annotated[str, typer.Option(help="The Hub model repository (ORG/NAME) it goes to; the model card's "
                                         "code loads it from there.")],
    base_id: Annotated[str | None, typer.Option(help="The Hub id of the base model, when it was a local folder "
                                                "at training time.")] = None,
    encoder_id: Annotated[str | None, typer.Option(help="The Hub id of the LoRA's text encoder, when it was a "
                                                   "local folder at training time.")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the Hub repository as private.")] = False,
    to: Annotated[Path | None, typer.Option(help="Stage into this folder only (exactly the files an upload "
                                            "sends), without uploading.")] = None,
    as_json: AsJson = False,
) -> None:
    """Publish a trained LoRA or Korean text encoder as a Hub model repo, with a card whose code runs as written.

    Weights, tokenizer, resolved config and metrics go up; checkpoints and caches stay. The token is found
    the way huggingface_hub finds it (HF_TOKEN, then `hf auth login`)."""
    from ktrain.release.model import ModelRelease, publish_model

    release = ModelRelease(repo_id=repo_id, base_id=base_id, encoder_id=encoder_id)
    emit(publish_model(folder, release, to, private), as_json, show_model_release)


def show_model_release(outcome: dict) -> None:
    from kcli.output import console, key_value_table

    summary = {"kind": outcome["kind"], "repo": outcome["repo_id"], "files": len(outcome["files"])}
    if "upload" in outcome:
        summary["uploaded to"] = outcome["upload"]["repo_url"]
    else:
        summary["staged in"] = outcome["folder"]
    console.print(key_value_table(summary, title="publish model"))
