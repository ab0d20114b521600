"""``kcli eval encoder`` (held-out retrieval and denoising agreement) and ``kcli eval t2i`` (pipelines compared)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kcli.option_groups import BaseFlags, PostStageFlags, base_options, post_stage_options
from kcli.options import AsJson, Base, Guidance, Overwrite, Steps, TextEncoder
from kcli.output import emit
from kdata.deps import require_extra

eval_app = typer.Typer(help="Evaluate models: the Korean encoder on held-out pairs, text-to-image pipelines.",
                       no_args_is_help=True)
ModelId = str | None


@eval_app.command("encoder")
def eval_encoder(
    model: Annotated[Path, typer.Option("--model", "-m", help="An encoder export (a run's best/ or final/).")],
    pairs: Annotated[Path, typer.Option(help="The parallel-corpus manifest with the held-out pairs.")],
    teacher: Annotated[str, typer.Option(help="The SD checkpoint the encoder was distilled from.")],
    split: Annotated[str, typer.Option(help="validation or test (or train).")] = "validation",
    latents: Annotated[int, typer.Option(min=1, help="Fixed noisy latents for denoising agreement.")] = 2,
    latent_size: Annotated[int | None, typer.Option(min=2, help="Latent side (default: the UNet's).")] = None,
    reference: Annotated[bool, typer.Option("--reference", help="Also score the teacher reading the Korean "
                                            "text.")] = False,
    as_json: AsJson = False,
) -> None:
    """Held-out R@1/R@5 of student(ko) vs teacher(en), mean cosine, and denoising agreement through the UNet."""
    require_extra("train", "kcli eval encoder")
    from ktrain.encoder.evaluate import evaluate_encoder

    result = evaluate_encoder(model, pairs, teacher, split=split, num_latents=latents, latent_size=latent_size,
                              reference=reference)
    emit(result, as_json, title=f"eval encoder ({split})")


@eval_app.command("retrieval")
def eval_retrieval(
    corpus: Annotated[Path, typer.Argument(help="A parallel corpus manifest (ko, en).")],
    encoder: Annotated[str, typer.Option("--encoder", help="Korean side: a kcli Korean encoder folder, or a model "
                                         "for --embedder.")],
    embedder: Annotated[str, typer.Option(help="How --encoder embeds: ko-encoder, clip or mean-pool.")]
    = "ko-encoder",
    en_encoder: Annotated[str | None, typer.Option(help="English side (e.g. the teacher, hf:openai/clip-vit-large-"
                                                   "patch14) [default: --encoder].")] = None,
    en_embedder: Annotated[str, typer.Option(help="How --en-encoder embeds.")] = "clip",
    split: Annotated[str, typer.Option(help="The split to score, or 'all'.")] = "test",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for retrieval.csv and retrieval.json.")]
    = None,
    as_json: AsJson = False,
) -> None:
    """R@1/5/10 of ko→en and en→ko retrieval over the pairs of a parallel corpus."""
    from kcli.output import console, progress_bars, rows_table
    from kdata.index.retrieval import RECALL_AT, evaluate_retrieval

    en = (en_embedder, en_encoder, "") if en_encoder else None
    with progress_bars(not as_json) as progress:
        result = evaluate_retrieval(corpus, (embedder, encoder, ""), en, split=None if split == "all" else split,
                                    out=out, progress=progress)

    def show(r) -> None:  # noqa: ANN001 - a kdata.index.retrieval.RetrievalResult
        rows = [(name, *(f"{scores[f'R@{k}']:.3f}" for k in RECALL_AT)) for name, scores in
                (("ko→en", r.ko_to_en), ("en→ko", r.en_to_ko))]
        console.print(rows_table(("direction", *(f"R@{k}" for k in RECALL_AT)), rows,
                                 title=f"eval retrieval: {r.pairs:,} pairs ({r.split or 'all'})"))
        for path in r.files.values():
            console.print(path, markup=False, highlight=False)

    emit(result, as_json, show)


@eval_app.command("t2i")
@base_options
@post_stage_options
def eval_t2i(
    base: Base,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for images, eval.csv, report.md and report.html.")],
    prompts: Annotated[Path | None, typer.Option(help="JSONL of id/category/ko and optional en (default: the "
                                                    "bundled set); without en, English-only parts are skipped.")]
    = None,
    pipelines: Annotated[str, typer.Option(help="Comma-separated: ko-encoder, translate, english-reference, "
                                           "enriched.")]
    = "ko-encoder,translate",
    text_encoder: TextEncoder = None,
    translator: Annotated[ModelId, typer.Option(help="Ko→en seq2seq model for translate [default: "
                                                 "facebook/m2m100_418M].")] = None,
    english_clip: Annotated[ModelId, typer.Option(help="CLIP scoring against the English prompt, or none [default: "
                                                   "openai/clip-vit-large-patch14].")] = None,
    korean_clip: Annotated[ModelId, typer.Option(help="CLIP scoring against the Korean prompt, or none [default: "
                                                  "Bingsu/clip-vit-large-patch14-ko].")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N prompts.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first prompt; prompt i uses seed + i in every "
                                      "pipeline.")] = 0,
    steps: Steps = 30,
    guidance: Guidance = 7.5,
    negative_prompt: Annotated[str, typer.Option(help="What the images should not show.")] = "",
    size: Annotated[int | None, typer.Option(min=8, help="Image side in pixels (default: the base's native "
                                                "size).")] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Unrecorded renders per pipeline before timing.")] = 1,
    prompt_index: Annotated[Path | None, typer.Option(help="A prompt index (kcli index build) for enriched: each "
                                                      "Korean prompt's translation gets its nearest English corpus "
                                                      "prompt appended.")] = None,
    overwrite: Overwrite = False,
    as_json: AsJson = False,
    *,
    base_files: BaseFlags,
    stages: PostStageFlags,
) -> None:
    """Each prompt through each pipeline (same seeds): per-stage latency, CLIP scores, image grid, eval.csv.

    --upscaler and --refiner add their stages to every pipeline (upscale_s, refine_s); the refiner reads the
    English text of translate, enriched and english-reference, and only the refine prompt on ko-encoder.
    enriched (needs --prompt-index) renders the translation with the nearest English prompt of the index
    appended; eval.csv records that neighbour and its score per row (neighbour_en, neighbour_score).
    Every model is found (local, cached, or on the Hub unless HF_HUB_OFFLINE=1) before the first image.
    """
    require_extra("train", "kcli eval t2i")
    from kcli.output import progress_bars
    from kdata.config import checked
    from ktrain.t2i.evaluate import T2IEvalConfig, evaluate_t2i, plan_evaluation

    models = {k: v for k, v in (("translator", translator), ("english_clip", english_clip),
                                ("korean_clip", korean_clip)) if v}
    config = checked(T2IEvalConfig, "eval t2i", base=base, out=str(out), pipelines=pipelines.split(","),
                     prompts=prompts and str(prompts), text_encoder=text_encoder, limit=limit, seed=seed,
                     steps=steps, guidance=guidance, negative_prompt=negative_prompt, height=size, width=size,
                     warmup=warmup, stages=stages.config(), prompt_index=prompt_index and str(prompt_index),
                     **models, **base_files.named())
    plan = plan_evaluation(config)  # every model found, or one line naming the option, before any image
    if not as_json:
        show_plan(plan)
    with progress_bars(not as_json) as progress:
        result = evaluate_t2i(config, overwrite=overwrite, progress=progress, plan=plan)
    emit(result, as_json, show_t2i)


def show_plan(plan) -> None:  # noqa: ANN001 - a ktrain.t2i.plan.T2IPlan
    from rich.markup import escape

    from kcli.output import console, rows_table

    # A spec is a path or an id the user typed: shown as text, never read as rich markup.
    rows = [tuple(escape(cell) for cell in (", ".join(m.used_by), m.role, m.shown(), m.found)) for m in plan.models]
    console.print(rows_table(("used by", "model", "spec", "found"), rows, title="eval t2i: models"))
    for note in plan.notes:
        console.print(f"note: {note}", markup=False, highlight=False)


def show_t2i(result) -> None:  # noqa: ANN001 - a ktrain.t2i.evaluate.T2IEvalResult
    from kcli.output import console, rows_table

    metrics = ("text_stage_s", "denoise_s", "decode_s", "total_s", "clip_en", "clip_ko")
    rows = [(s["pipeline"], *("–" if s[m + "_median"] is None else f"{s[m + '_median']:.4f}" for m in metrics))
            for s in result.summary]
    console.print(rows_table(("pipeline", *(f"{m} median" for m in metrics)), rows, title="eval t2i"))
    console.print(f"{len(result.rows)} rows ({result.skipped} already done): {result.csv}, {result.report_html}")
