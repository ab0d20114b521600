"""``kcli eval retrieval``: R@1/5/10 of ko→en and en→ko retrieval over a parallel corpus.

Each Korean sentence is a query against every English sentence of the split (and the reverse); the hit is
its own pair. The Korean side may be embedded by one encoder (a kcli Korean encoder) and the English side
by another (the teacher it was distilled from), as long as both give vectors in one space and one size.
Writes ``retrieval.csv`` (one row per pair: both ranks) and ``retrieval.json`` (the summary) when ``out``
is given.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kdata.atomic import atomic_path, write_json_atomic
from kdata.errors import ConfigError
from kdata.index.embedders import Embedder, load_embedder
from kdata.progress import ProgressCallback, ProgressEvent, notify

RECALL_AT = (1, 5, 10)


@dataclass
class RetrievalResult:
    pairs: int
    split: str | None
    ko_model: str
    en_model: str
    ko_to_en: dict[str, float]
    en_to_ko: dict[str, float]
    seconds: float
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ranks(similarity: np.ndarray) -> np.ndarray:
    """The 1-based rank of the diagonal entry in each row (ties count against the query)."""
    own = np.diag(similarity)[:, None]
    return (similarity > own).sum(axis=1) + 1


def recall(rank: np.ndarray) -> dict[str, float]:
    return {f"R@{k}": round(float((rank <= k).mean()), 4) for k in RECALL_AT} if rank.size else {}


def read_pairs(corpus: str | Path, split: str | None) -> tuple[list[str], list[str], list[str]]:
    from kdata.manifest import open_manifest

    manifest = open_manifest(corpus)
    if manifest.kind.name != "parallel":
        raise ConfigError(f"{manifest.path} is a {manifest.kind.name} manifest; eval retrieval reads a parallel corpus")
    rows = manifest.read_table(["key", "ko", "en", "split"], only_ok=True).to_pylist()
    rows = [r for r in rows if r["ko"] and r["en"] and (split is None or r["split"] == split)]
    if not rows:
        raise ConfigError(f"{manifest.path} has no ok pairs" + (f" in split {split!r}" if split else ""))
    return [r["key"] for r in rows], [r["ko"] for r in rows], [r["en"] for r in rows]


def _embed(embedder: Embedder, texts: list[str], batch: int) -> np.ndarray:
    return np.concatenate([embedder.encode_texts(texts[i:i + batch]) for i in range(0, len(texts), batch)])


def evaluate_retrieval(corpus: str | Path, ko: tuple[str, str, str], en: tuple[str, str, str] | None = None,
                       split: str | None = "test", out: str | Path | None = None, batch_size: int = 64,
                       progress: ProgressCallback | None = None) -> RetrievalResult:
    """``ko`` / ``en`` are (embedder, model, text_model); ``en`` defaults to ``ko`` (one multilingual encoder)."""
    started = time.perf_counter()
    keys, ko_texts, en_texts = read_pairs(corpus, split)
    ko_embedder = load_embedder(*ko)
    en_embedder = load_embedder(*en) if en else ko_embedder
    if ko_embedder.dim != en_embedder.dim:
        raise ConfigError(f"the Korean encoder gives {ko_embedder.dim}-d vectors and the English one "
                          f"{en_embedder.dim}-d; they must share one space")
    ko_vectors = _embed(ko_embedder, ko_texts, batch_size)
    notify(progress, ProgressEvent("eval retrieval", 1, 2, "sides", len(keys)))
    en_vectors = _embed(en_embedder, en_texts, batch_size)
    notify(progress, ProgressEvent("eval retrieval", 2, 2, "sides", len(keys)))
    similarity = ko_vectors @ en_vectors.T
    ko_rank, en_rank = ranks(similarity), ranks(similarity.T)
    result = RetrievalResult(len(keys), split, ko_embedder.model_id, en_embedder.model_id, recall(ko_rank),
                             recall(en_rank), 0.0)
    if out is not None:
        result.files = _write(Path(out), keys, ko_rank, en_rank, result)
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def _write(out: Path, keys: list[str], ko_rank: np.ndarray, en_rank: np.ndarray,
           result: RetrievalResult) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": str(out / "retrieval.csv"), "json": str(out / "retrieval.json")}
    with atomic_path(out / "retrieval.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "ko_to_en_rank", "en_to_ko_rank"])
        writer.writerows(zip(keys, ko_rank.tolist(), en_rank.tolist()))
    write_json_atomic(out / "retrieval.json", {**result.to_dict(), "files": files})
    return files
