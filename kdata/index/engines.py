"""Vector engines behind one small interface: faiss embedded in the index folder, or a Qdrant server.

Chosen by measurement (``bench/index_search.py``, numbers in the README): faiss's HNSW graph answers a
300k x 768 query in a few milliseconds in-process with recall@10 above 0.95, where Qdrant's embedded
local mode is a brute-force numpy scan meant for under 20k points and LanceDB's IVF-PQ needs a refine pass
to reach the same recall. faiss has no server, so ``--qdrant-url`` sends the same vectors and payloads to a
Qdrant server instead (the engine users run as a service). Both store vectors as row ids; the payload
(key, text, source) lives in the index folder's Parquet rows, and Qdrant also gets it on each point so a
server-side user sees what a vector is.

Vectors are L2-normalised before they arrive, so inner product is cosine similarity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kdata.atomic import atomic_path
from kdata.deps import require
from kdata.errors import ConfigError

FAISS_FILE = "vectors.faiss"
HNSW_M = 32  # graph degree: faiss's own benchmarks use 32 for 768-d; recall@10 > 0.95 at efSearch 128
EF_CONSTRUCTION = 80
EF_SEARCH = 128
FLAT_BELOW = 20_000  # exact search is as fast as the graph here, and exact


class VectorEngine(Protocol):
    name: str

    def add(self, ids: np.ndarray, vectors: np.ndarray, payloads: Sequence[dict[str, Any]] | None = None) -> None: ...

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...  # (ids, scores)

    def count(self) -> int: ...

    def save(self) -> None: ...


class FaissEngine:
    """An inner-product faiss index in ``folder``: flat (exact) when small, HNSW otherwise."""

    name = "faiss"

    def __init__(self, folder: Path, index: Any) -> None:
        self.folder = folder
        self.index = index
        self.faiss = require("faiss", "faiss-cpu")

    @classmethod
    def create(cls, folder: Path, dim: int, kind: str = "auto", expected: int = 0) -> FaissEngine:
        faiss = require("faiss", "faiss-cpu")
        if kind == "flat" or (kind == "auto" and expected < FLAT_BELOW):
            inner = faiss.IndexFlatIP(dim)
        elif kind in ("hnsw", "auto"):
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = EF_CONSTRUCTION
        else:
            raise ConfigError(f"unknown faiss index kind {kind!r}; valid: auto, flat, hnsw")
        return cls(folder, faiss.IndexIDMap2(inner))

    @classmethod
    def open(cls, folder: Path) -> FaissEngine:
        faiss = require("faiss", "faiss-cpu")
        # One query at a time: OpenMP threads only add hand-offs (tens of ms on a busy machine, measured).
        faiss.omp_set_num_threads(1)
        return cls(folder, faiss.read_index(str(folder / FAISS_FILE)))

    def add(self, ids: np.ndarray, vectors: np.ndarray, payloads: Sequence[dict[str, Any]] | None = None) -> None:
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        inner = self.faiss.downcast_index(self.index.index)
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = max(EF_SEARCH, k)
        scores, ids = self.index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
        found = ids[0] >= 0  # faiss pads with -1 when the index holds fewer than k vectors
        return ids[0][found], scores[0][found]

    def count(self) -> int:
        return int(self.index.ntotal)

    def save(self) -> None:
        with atomic_path(self.folder / FAISS_FILE) as tmp:
            self.faiss.write_index(self.index, str(tmp))


class QdrantEngine:
    """A Qdrant collection on a server (``url``), or in qdrant-client's embedded local mode (``path``)."""

    name = "qdrant"

    def __init__(self, collection: str, dim: int, url: str | None = None, path: Path | None = None,
                 api_key: str | None = None) -> None:
        client_module = require("qdrant_client", "qdrant-client")
        self.models = client_module.models
        self.client = (client_module.QdrantClient(url=url, api_key=api_key, timeout=30) if url
                       else client_module.QdrantClient(path=str(path)))
        self.collection = collection
        self.url = url
        if not self.client.collection_exists(collection):
            params = self.models.VectorParams(size=dim, distance=self.models.Distance.COSINE)
            self.client.create_collection(collection, vectors_config=params)

    def add(self, ids: np.ndarray, vectors: np.ndarray, payloads: Sequence[dict[str, Any]] | None = None) -> None:
        # Upserting by row id makes a resumed build idempotent: a chunk sent twice overwrites itself.
        self.client.upload_collection(self.collection, np.asarray(vectors, dtype=np.float32),
                                      payload=list(payloads) if payloads else None,
                                      ids=[int(i) for i in ids], wait=True)

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        points = self.client.query_points(self.collection, query=np.asarray(vector, dtype=np.float32).tolist(),
                                          limit=k).points
        return np.array([p.id for p in points], dtype=np.int64), np.array([p.score for p in points], np.float32)

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def save(self) -> None:
        """Nothing to write: the server (or local mode) persists every upsert."""

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "url": self.url, "collection": self.collection}


def engine_record(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "index.json").read_text(encoding="utf-8"))
