"""``kcli index build`` / ``kcli index search``: a vector index of prompts or images, searched in Korean or English."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kcli.options import AsJson, Overwrite
from kcli.output import emit

index_app = typer.Typer(help="Vector index of prompts or images: build it, search it with Korean or English text.",
                        no_args_is_help=True)

Embedder = Annotated[str, typer.Option("--embedder", "-e", help="clip (CLIP text/image towers), ko-encoder (a kcli "
                                       "Korean CLIPTextModel folder) or mean-pool (any transformers encoder).")]
Model = Annotated[str, typer.Option("--model", "-m", help="For clip: hf:MODEL or open_clip:MODEL (tiny-clip, "
                                    "openai/clip-vit-large-patch14, ViT-B-32:openai); else a folder or Hub id.")]
TextModel = Annotated[str, typer.Option("--text-model", help="With clip: a Korean CLIPTextModel folder whose pooled "
                                        "output goes through the CLIP model's projection.")]
QdrantUrl = Annotated[str | None, typer.Option("--qdrant-url", help="Store the vectors on this Qdrant server "
                                               "(http://HOST:6333) instead of the embedded faiss index.")]


@index_app.command("build")
def build(
    source: Annotated[Path, typer.Argument(help="A prompt corpus (.parquet/.csv/.jsonl with a text column), a "
                                           "parallel corpus manifest (ko and en), or an image manifest.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The index folder (re-running resumes a killed build).")],
    embedder: Embedder = "clip",
    model: Model = "hf:tiny-clip",
    text_model: TextModel = "",
    text_column: Annotated[str | None, typer.Option(help="The text column of a corpus file (default: the first of "
                                                    "prompt, text, caption_ko, ko, caption_en, en, caption).")]
    = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows per embedding chunk (the unit of resume).")] = 1024,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts or images per model call.")] = 64,
    qdrant_url: QdrantUrl = None,
    collection: Annotated[str | None, typer.Option(help="Qdrant collection (default: the index folder's name).")]
    = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Image embedding cache (default: the filter's, so images "
                                                   "are never embedded twice).")] = None,
    overwrite: Overwrite = False,
    as_json: AsJson = False,
) -> None:
    """Embed a corpus or a manifest's images in resumable chunks and load them into a vector index."""
    from kcli.output import console, progress_bars, stats_table
    from kdata.index import IndexConfig, build_index

    config = IndexConfig(embedder=embedder, model=model, text_model=text_model, text_column=text_column,
                         chunk_size=chunk_size, batch_size=batch_size, qdrant_url=qdrant_url, collection=collection,
                         cache_dir=cache_dir and str(cache_dir))
    with progress_bars(not as_json) as progress:
        result = build_index(source, out, config, overwrite=overwrite, progress=progress)

    def show(r) -> None:  # noqa: ANN001 - a kdata.index.IndexBuildResult
        console.print(stats_table(r.stats, title=str(r.path)))
        resumed = f", {r.chunks_resumed} resumed" if r.chunks_resumed else ""
        console.print(f"{r.rows:,} vectors of {r.dim} dims in {r.engine} ({r.chunks} chunks{resumed}) in {r.seconds} s")

    emit(result, as_json, show)


@index_app.command("search")
def search(
    index: Annotated[Path, typer.Argument(help="An index folder written by kcli index build.")],
    query: Annotated[list[str], typer.Argument(help="One or more queries, Korean or English.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Hits per query.")] = 5,
    qdrant_url: Annotated[str | None, typer.Option("--qdrant-url", help="Query this Qdrant server instead of the "
                                                   "one the index was built on.")] = None,
    as_json: AsJson = False,
) -> None:
    """The k nearest prompts (or images) to each query, with cosine scores and latency."""
    from kcli.output import console, rows_table
    from kdata.index import PromptIndex

    opened = PromptIndex.open(index, qdrant_url=qdrant_url)
    opened.embedder  # noqa: B018 - loaded before the first query, so embed_ms times the query, not the import
    results = [opened.search(text, k) for text in query]

    def show(results) -> None:  # noqa: ANN001 - a list of kdata.index.SearchResult
        from rich.markup import escape

        for r in results:
            rows = [(str(rank), f"{h.score:.3f}", escape(h.key), escape(h.text)) for rank, h in enumerate(r.hits, 1)]
            title = f"{escape(r.query)} · embed {r.embed_ms:.1f} ms · search {r.search_ms:.2f} ms ({r.engine}, " \
                    f"{r.rows:,} rows)"
            console.print(rows_table(("#", "score", "key", "text"), rows, title=title))

    emit(results, as_json, show)
