"""Training commands: ``kcli tokenizer train``, ``kcli train encoder`` and ``kcli train lora``.

Both trainers run unchanged under ``accelerate launch -m kcli train …`` (several GPUs or machines); only
the main process draws bars and prints the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kcli.option_groups import BaseFlags, SettingsFlags, base_options, settings_options
from kcli.options import AsJson, MaxSteps, Overwrite, ReportTo, Resume, TextEncoder
from kcli.output import emit
from kdata.deps import require_extra

tokenizer_app = typer.Typer(help="Korean tokenizers in CLIP's format.", no_args_is_help=True)
train_app = typer.Typer(help="Trainers fed by kcli manifests (checkpoint-{step}/, --resume latest).",
                        no_args_is_help=True)
Pairs = Annotated[Path | None, typer.Option("--pairs", help="A parallel-corpus manifest (ko/en pairs).")]
RunOut = Annotated[Path | None, typer.Option("--out", "-o", help="Run folder: checkpoints, metrics.jsonl and "
                                                "the exported model.")]
MULTI_PROCESS = """

    Runs unchanged under `accelerate launch -m kcli train ...`: --batch-size is per process, so one step sees
    batch-size x processes x gradient_accumulation_steps examples; only the main process writes and prints. A
    checkpoint resumes on another process count (README: Training on several GPUs)."""


@tokenizer_app.command("train")
def tokenizer_train(
    pairs: Annotated[Path, typer.Option("--pairs", help="A parallel-corpus manifest; its train split's Korean "
                                        "is used.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Tokenizer folder (loads with "
                                      "CLIPTokenizer.from_pretrained).")],
    vocab_size: Annotated[int, typer.Option(min=514, help="At most this many tokens.")] = 32000,
    min_frequency: Annotated[int, typer.Option(min=1, help="A merge must occur this often.")] = 2,
    include_english: Annotated[bool, typer.Option("--include-english", help="Also learn merges from the English "
                                                  "side.")] = False,
    as_json: AsJson = False,
) -> None:
    """Train a byte-level BPE tokenizer in CLIP's format (77 positions, no unknown characters)."""
    require_extra("models", "kcli tokenizer train")
    from ktrain.encoder.tokenizer import TokenizerTrainConfig, train_tokenizer

    config = TokenizerTrainConfig(vocab_size=vocab_size, min_frequency=min_frequency, include_english=include_english)
    emit(train_tokenizer(pairs, out, config), as_json, title="tokenizer")


@train_app.command("encoder")
@settings_options
def train_encoder(
    pairs: Pairs = None,
    teacher: Annotated[str | None, typer.Option(help="SD checkpoint (tiny-sd, a diffusers folder or Hub "
                                                   "id).")] = None,
    out: RunOut = None,
    tokenizer: Annotated[str | None, typer.Option(help="A tokenizer folder or id (default: train one).")] = None,
    resume: Resume = None,
    max_steps: MaxSteps = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Pairs per micro-batch on each process.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate", "--lr", help="Peak learning "
                                                           "rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for init, data order and noise.")] = None,
    report_to: ReportTo = None,
    overwrite: Overwrite = False,
    as_json: AsJson = False,
    *,
    settings: SettingsFlags,
) -> None:
    """Distil the teacher's English text encoder into a Korean student that drops into diffusers."""
    require_extra("train", "kcli train encoder")
    from kcli.output import progress_bars
    from ktrain.encoder.config import load_train_config
    from ktrain.encoder.loop import train_encoder as run_training
    from ktrain.runtime import is_main_process

    named = {"pairs": pairs and str(pairs), "teacher": teacher, "out": out and str(out), "tokenizer": tokenizer,
             "max_steps": max_steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
             "report_to": report_to}
    resolved = load_train_config(settings.config, sets=settings.sets, **named)
    with progress_bars(not as_json and is_main_process()) as progress:
        result = run_training(resolved, resume=resume, overwrite=overwrite, progress=progress)
    if is_main_process():  # one report per run
        emit(result, as_json, title="train encoder")


train_encoder.__doc__ += MULTI_PROCESS


@train_app.command("encoder-sdxl")
def train_encoder_sdxl(
    pairs: Annotated[Path, typer.Option("--pairs", help="A parallel-corpus manifest (ko/en pairs).")],
    tokenizer: Annotated[Path, typer.Option(help="The Korean tokenizer folder (kcli tokenizer train).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Export folder: text_encoder/, tokenizer/, "
                                      "text_encoder_2/, tokenizer_2/.")],
    base: Annotated[str, typer.Option(help="SDXL base: diffusers folder, Hub id or tiny-sdxl.")]
    = "stabilityai/stable-diffusion-xl-base-1.0",
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Optimizer steps.")] = 100,
    batch_size: Annotated[int, typer.Option(min=1, help="Pairs per step.")] = 8,
    learning_rate: Annotated[float, typer.Option("--learning-rate", "--lr", help="Learning rate.")] = 1e-4,
    seed: Annotated[int, typer.Option(help="Seed for noise and latents.")] = 0,
    as_json: AsJson = False,
) -> None:
    """Distil SDXL's two text encoders into a Korean pair, trained together (both states, the pooled
    projection, and through the SDXL UNet with text_embeds and time_ids); the export replaces both encoders of
    an unchanged StableDiffusionXLPipeline."""
    from kcli.output import progress_bars
    from ktrain.encoder.sdxl_pair import SDXLPairConfig, train_sdxl_pair_on_manifest

    config = SDXLPairConfig(base=base, tokenizer=str(tokenizer), out=str(out), steps=max_steps,
                            batch_size=batch_size, learning_rate=learning_rate, seed=seed, pairs=str(pairs))
    with progress_bars(not as_json) as progress:
        result = train_sdxl_pair_on_manifest(config, progress=progress)
    emit(result, as_json, title="train encoder-sdxl")


@train_app.command("lora")
@settings_options
@base_options
def train_lora(
    manifest: Annotated[Path | None, typer.Option("--manifest", "-m", help="Image manifest with "
                                                     "captions.")] = None,
    base: Annotated[str | None, typer.Option(help="SD 1.x or SDXL base (told apart by its model_index.json): "
                                                  "diffusers folder, Hub id, tiny-sd or tiny-sdxl.")] = None,
    out: RunOut = None,
    caption_col: Annotated[str | None, typer.Option(help="Caption column (default caption_ko).")] = None,
    text_encoder: TextEncoder = None,
    resume: Resume = None,
    max_steps: MaxSteps = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Images per micro-batch on each process.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate", "--lr", help="Peak learning "
                                                           "rate.")] = None,
    rank: Annotated[int | None, typer.Option(min=1, help="LoRA rank.")] = None,
    resolution: Annotated[int | None, typer.Option(help="Training resolution (bucket area = this²).")] = None,
    train_text_encoder: Annotated[bool | None, typer.Option("--train-text-encoder/--no-train-text-encoder",
                                                               help="Also train a LoRA on the text encoder.")] = None,
    random_flip: Annotated[bool | None, typer.Option(
        "--random-flip/--no-random-flip", help="Mirror each image left-right with chance 0.5 when drawn (diffusers' "
        "--random_flip; both sides are cached). --set random_flip=P for another chance.")] = None,
    report_to: ReportTo = None,
    overwrite: Overwrite = False,
    as_json: AsJson = False,
    *,
    settings: SettingsFlags,
    base_files: BaseFlags,
) -> None:
    """Train a LoRA on Stable Diffusion from an image manifest's captions; writes diffusers + kohya files."""
    require_extra("train", "kcli train lora")
    from kcli.output import console, key_value_table, progress_bars
    from ktrain.lora.config import load_lora_config
    from ktrain.lora.loop import train_lora as run_training
    from ktrain.runtime import is_main_process

    named = {"manifest": manifest and str(manifest), "base": base, "out": out and str(out),
             "caption_col": caption_col, "text_encoder": text_encoder, "max_steps": max_steps,
             "batch_size": batch_size, "learning_rate": learning_rate, "rank": rank, "resolution": resolution,
             "train_text_encoder": train_text_encoder, "report_to": report_to,
             "random_flip": None if random_flip is None else 0.5 * random_flip, **base_files.named()}
    cfg = load_lora_config(settings.config, sets=settings.sets, **named)
    with progress_bars(not as_json and is_main_process()) as progress:
        result = run_training(cfg, resume=resume, overwrite=overwrite, progress=progress)
    if not is_main_process():
        return  # one report per run, from the main process

    def show(result) -> None:  # noqa: ANN001 - a ktrain.lora.loop.LoraTrainResult
        payload = result.to_dict()
        keys = ("out", "steps", "resumed_from", "metrics", "cache", "distributed")
        console.print(key_value_table({k: payload[k] for k in keys} | payload["files"], title="train lora"))

    emit(result, as_json, show)


train_lora.__doc__ += MULTI_PROCESS
