"""The models a filter config asks for, loaded once per worker, and the scores they give a batch.

``ScoringModels.load`` builds only what the config needs: a CLIP encoder (with its embedding cache)
when ``[clip]`` names a model, the aesthetic head when ``[aesthetic]`` has weights, a safety scorer when
``[safety]`` names one. ``embed`` fills a batch's embeddings from the cache and runs the model only on
misses, overlapping decode with the forward pass (see :mod:`kdata.filter.pipeline`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kdata.filter.clip import ClipEncoder, load_clip
from kdata.filter.config import FilterConfig
from kdata.filter.embed_cache import EmbeddingCache, default_cache_root
from kdata.filter.pipeline import Prepared, prefetched, prepare_row
from kdata.filter.plan import needed_scores
from kdata.models.resolve import torch_device

TEXT_BATCH = 256


@dataclass
class ScoringModels:
    clip: ClipEncoder | None = None
    cache: EmbeddingCache | None = None
    aesthetic: Any = None
    safety: Any = None
    aesthetic_id: str = ""
    safety_reads_images: bool = False  # a scorer that looks at the image itself, not the embedding

    @classmethod
    def load(cls, config: FilterConfig) -> ScoringModels:
        models = cls()
        if config.uses_clip:
            models.clip = load_clip(config.clip.backend, config.clip.model, config.clip.text_model,
                                    device=torch_device(config.clip.device))
            root = Path(config.clip.cache_dir).expanduser() if config.clip.cache_dir else default_cache_root()
            models.cache = EmbeddingCache(root, models.clip.model_id, models.clip.dim)
        dim = models.clip.dim if models.clip is not None else None
        if config.aesthetic.weights:
            from kdata.filter.heads import load_aesthetic_head

            models.aesthetic = load_aesthetic_head(config.aesthetic.weights, dim)
            models.aesthetic_id = f"laion-aesthetic:{Path(config.aesthetic.weights).name}"
        if config.safety.scorer:
            from kdata.filter.safety import SCORERS, load_scorer

            models.safety = load_scorer(config.safety.scorer, config.safety.weights, dim, config.safety.device,
                                        config.safety.batch_size)
            models.safety_reads_images = not SCORERS.get(config.safety.scorer).needs_clip
        return models


@dataclass
class BatchScores:
    prepared: list[Prepared]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # by image sha256
    counters: Counter[str] = field(default_factory=Counter)


def embed(
    rows: Sequence[dict[str, Any]], models: ScoringModels, config: FilterConfig, pool: ThreadPoolExecutor,
    blob_dirs: Sequence[Path],
) -> BatchScores:
    """Decode and measure every row; embed the images whose embeddings are not cached yet."""
    clip, cache = models.clip, models.cache
    preprocess = clip.preprocess if clip is not None else None
    keep_bytes = models.safety_reads_images
    measure = needed_scores(config)

    def prepare(row: dict[str, Any]) -> Prepared:
        return prepare_row(row, blob_dirs, preprocess, lambda sha: cache is not None and sha in cache, keep_bytes,
                           measure)

    result = BatchScores([])
    for chunk in prefetched(pool, rows, prepare, config.clip.batch_size):
        if clip is not None and cache is not None:
            _forward_misses(chunk, clip, cache, result)
        result.prepared.extend(chunk)
    if cache is not None:
        wanted = {p.sha256 for p in result.prepared if p.sha256 and p.sha256 not in result.embeddings}
        cached = cache.get_many(wanted)
        result.counters["clip/cached"] += sum(1 for p in result.prepared if p.sha256 in cached)
        result.embeddings.update(cached)
    return result


def _forward_misses(chunk: list[Prepared], clip: ClipEncoder, cache: EmbeddingCache, result: BatchScores) -> None:
    import torch

    todo: dict[str, Any] = {}
    for item in chunk:
        if item.pixels is not None and item.sha256 not in result.embeddings:
            todo.setdefault(item.sha256, item.pixels)
        item.pixels = None  # the tensor is not needed past this chunk
    if not todo:
        return
    shas = list(todo)
    vectors = clip.encode_images(torch.stack([todo[s] for s in shas]))
    cache.put_many(shas, vectors)
    result.embeddings.update(zip(shas, vectors))
    result.counters["clip/encoded"] += len(shas)
    result.counters["clip/forward_batches"] += 1


def text_of(row: dict[str, Any], columns: Sequence[str]) -> tuple[str | None, str | None]:
    """The first non-empty text among ``columns``, and the column it came from."""
    for column in columns:
        value = row.get(column)
        if isinstance(value, str) and value.strip():
            return value.strip(), column
    return None, None


def clip_scores(clip: ClipEncoder, images: np.ndarray, texts: Sequence[str | None]) -> list[float | None]:
    """Cosine similarity of each image with its text (None where a row has no text)."""
    unique = sorted({t for t in texts if t is not None})
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(unique), TEXT_BATCH):
        part = unique[start : start + TEXT_BATCH]
        vectors.update(zip(part, clip.encode_texts(part)))
    return [None if t is None else float(np.dot(images[i], vectors[t])) for i, t in enumerate(texts)]
