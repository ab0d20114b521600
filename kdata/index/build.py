"""``kcli index build``: embed a corpus (or a manifest's images) in chunks, then load the vectors into an engine.

Index folder::

    INDEX/build.json          the settings, written first; a resume with other settings is refused
    INDEX/chunks/NNNNNN.parquet  id, key, text, source, vector — one per chunk, temp-then-rename
    INDEX/vectors.faiss       the faiss index (embedded engine), written when every chunk is done
    INDEX/index.json          written last: its presence means the index is complete

A killed build resumes at the first missing chunk: the source is read in the same order, finished chunks
are not embedded again. Image indexes read and fill the filter's embedding cache
(:mod:`kdata.filter.embed_cache`), so an image the filter already embedded with the same model is not
embedded twice.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kdata import __version__
from kdata.atomic import atomic_path, write_json_atomic
from kdata.errors import ConfigError
from kdata.index.embedders import Embedder, load_embedder
from kdata.index.engines import FaissEngine, QdrantEngine, VectorEngine
from kdata.index.sources import IndexRecord, Source, open_source
from kdata.outputs import output_lock, prepare_output
from kdata.progress import ProgressCallback, ProgressEvent, notify

CHUNKS = "chunks"
RECORD = "index.json"
SETTINGS = "build.json"


@dataclass
class IndexConfig:
    embedder: str = "clip"
    model: str = "hf:tiny-clip"
    text_model: str = ""
    text_column: str | None = None
    chunk_size: int = 1024
    batch_size: int = 64
    qdrant_url: str | None = None
    collection: str | None = None  # Qdrant collection (default: the index folder's name)
    cache_dir: str | None = None  # image embedding cache root (default: the filter's)
    device: str = "cpu"

    def identity(self) -> dict[str, Any]:
        """What must match for a resume to continue an earlier build's chunks."""
        return {k: v for k, v in asdict(self).items() if k not in ("batch_size", "device", "cache_dir")}


@dataclass
class IndexBuildResult:
    path: Path
    rows: int
    dim: int
    engine: str
    chunks: int
    chunks_resumed: int
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def build_index(source_path: str | Path, out: str | Path, config: IndexConfig, overwrite: bool = False,
                progress: ProgressCallback | None = None) -> IndexBuildResult:
    started = time.perf_counter()
    root = Path(out).expanduser().resolve()
    source = open_source(source_path, config.text_column)
    prepare_output(root, "index", overwrite, what="kcli index")
    with output_lock(root):
        _check_settings(root, config, source)
        for stale in (root / CHUNKS).glob(".*.tmp-*"):  # a killed run's half-written chunk; we hold the lock
            stale.unlink()
        embedder = load_embedder(config.embedder, config.model, config.text_model, config.device)
        if source.kind == "image" and not getattr(embedder, "reads_images", False):
            raise ConfigError(f"embedder {config.embedder!r} reads text only; an image manifest needs --embedder clip")
        done, resumed = 0, 0
        for index, records in enumerate(source.batches(config.chunk_size)):
            resumed += _ensure_chunk(root, index, done, records, embedder, source, config)
            done += len(records)
            notify(progress, ProgressEvent("index", index + 1, None, "chunks", done, skipped=resumed > 0))
        engine = _fill_engine(root, config, embedder.dim, done, progress)
        stats = {"total": done + sum(source.skipped.values()), "indexed": done, **source.skipped}
        record = {"format": 1, "kind": source.kind, "source": str(source.path), "rows": done, "dim": embedder.dim,
                  "model_id": embedder.model_id, "engine": engine.name, "qdrant_url": config.qdrant_url,
                  "collection": getattr(engine, "collection", None), "config": asdict(config), "stats": stats,
                  "kcli_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json_atomic(root / RECORD, record)
    chunks = len(list((root / CHUNKS).glob("*.parquet")))
    return IndexBuildResult(root, done, embedder.dim, engine.name, chunks, resumed,
                            round(time.perf_counter() - started, 2), stats)


def _check_settings(root: Path, config: IndexConfig, source: Source) -> None:
    import json

    wanted = {"source": str(source.path), **config.identity()}
    saved_path = root / SETTINGS
    if saved_path.exists():
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        if changed:
            raise ConfigError(f"{root} was built with other settings ({', '.join(changed)}); pass --overwrite "
                              "to rebuild it")
        return
    write_json_atomic(saved_path, wanted)


def chunk_path(root: Path, index: int) -> Path:
    return root / CHUNKS / f"{index:06d}.parquet"


def _ensure_chunk(root: Path, index: int, first_id: int, records: list[IndexRecord], embedder: Embedder,
                  source: Source, config: IndexConfig) -> int:
    """Embed and write chunk ``index`` unless a finished file is there; 1 when it was (a resumed chunk)."""
    path = chunk_path(root, index)
    if path.exists():
        return 1
    vectors = _embed(records, embedder, source, config)
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    table = pa.table({
        "id": pa.array(range(first_id, first_id + len(records)), pa.int64()),
        "key": [r.key for r in records], "text": [r.text for r in records], "source": [r.source for r in records],
        "vector": pa.FixedSizeListArray.from_arrays(flat, embedder.dim),
    })
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return 0


def _embed(records: list[IndexRecord], embedder: Embedder, source: Source, config: IndexConfig) -> np.ndarray:
    if source.kind == "image":
        return _embed_images(records, embedder, config)
    parts = [embedder.encode_texts([r.text for r in records[i:i + config.batch_size]])
             for i in range(0, len(records), config.batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def _embed_images(records: list[IndexRecord], embedder: Any, config: IndexConfig) -> np.ndarray:
    """Cached embeddings first (the filter's cache, same model key); only misses go through the image tower."""
    from PIL import Image

    from kdata.filter.embed_cache import EmbeddingCache, default_cache_root

    root = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_root()
    cache = EmbeddingCache(root, embedder.image_model_id, embedder.dim)
    shas = [r.sha256 or hashlib.sha256(r.image or b"").hexdigest() for r in records]
    found = cache.get_many(shas)
    missing = [i for i, sha in enumerate(shas) if sha not in found]
    for start in range(0, len(missing), config.batch_size):
        chosen = missing[start:start + config.batch_size]
        images = [Image.open(io.BytesIO(records[i].image or b"")).convert("RGB") for i in chosen]
        vectors = embedder.encode_images(images)
        cache.put_many([shas[i] for i in chosen], vectors)
        found.update({shas[i]: v for i, v in zip(chosen, vectors)})
    return np.stack([found[sha] for sha in shas]) if shas else np.zeros((0, embedder.dim), np.float32)


def iter_chunks(root: Path, columns: list[str] | None = None) -> Iterator[pa.Table]:
    for path in sorted((root / CHUNKS).glob("*.parquet")):
        yield pq.read_table(path, columns=columns)


def open_engine(root: Path, dim: int, qdrant_url: str | None, collection: str | None,
                expected: int = 0) -> VectorEngine:
    if qdrant_url:
        return QdrantEngine(collection or root.name, dim, url=qdrant_url)
    return FaissEngine.create(root, dim, expected=expected)


def _fill_engine(root: Path, config: IndexConfig, dim: int, rows: int,
                 progress: ProgressCallback | None) -> VectorEngine:
    """Every chunk into the engine (a fresh faiss index, or upserts to Qdrant: both idempotent)."""
    engine = open_engine(root, dim, config.qdrant_url, config.collection, expected=rows)
    added = 0
    for table in iter_chunks(root):
        vectors = table.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False).reshape(-1, dim)
        payloads = table.select(["key", "text", "source"]).to_pylist()
        engine.add(table.column("id").to_numpy(), vectors, payloads)
        added += table.num_rows
        notify(progress, ProgressEvent("load vectors", added, rows, "vectors"))
    engine.save()
    return engine
