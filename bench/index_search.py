"""Vector engines side by side: build time, query p50/p95, recall@10 against exact numpy search, memory.

Clustered synthetic unit vectors (768-d by default, as a CLIP-L text tower or a BERT-base mean pool gives),
queries drawn near corpus vectors, inner-product (cosine) search. Engines: faiss HNSW and flat (exact),
Qdrant's embedded local mode (qdrant-client, no server), LanceDB (embedded, IVF-PQ once the table is big
enough). Each engine runs in this process one after another; memory is the resident-set growth while it
builds and searches, so run one engine per process (``--engines faiss-hnsw``) for a clean memory column.

    PYTHONPATH=. python bench/index_search.py --sizes 10000,100000,300000 --queries 200

Prints the load average with every line: on a shared machine quote only results taken at load < 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

K = 10


def clustered(n: int, dim: int, seed: int, clusters: int = 256) -> np.ndarray:
    """Unit vectors around ``clusters`` centres: closer to real embeddings than uniform noise (which makes
    every neighbour equally far and approximate search look worse, or better, than it is)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def queries_near(corpus: np.ndarray, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    picked = corpus[rng.integers(0, len(corpus), count)]
    noisy = picked + 0.3 * rng.standard_normal(picked.shape).astype(np.float32) / np.sqrt(corpus.shape[1])
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def exact_top_k(corpus: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries @ corpus.T
    return np.argsort(-scores, axis=1)[:, :K]


Engine = tuple[Callable[[np.ndarray, Path], object], Callable[[object, np.ndarray], list[int]]]


def _faiss(kind: str) -> Engine:
    def build(corpus: np.ndarray, folder: Path) -> object:
        from kdata.index.engines import FaissEngine

        engine = FaissEngine.create(folder, corpus.shape[1], kind=kind)
        engine.add(np.arange(len(corpus)), corpus)
        engine.save()
        return FaissEngine.open(folder)  # as a search opens it (one OpenMP thread per query)

    return build, lambda engine, query: engine.search(query, K)[0].tolist()


def _qdrant() -> Engine:
    def build(corpus: np.ndarray, folder: Path) -> object:
        from qdrant_client import QdrantClient, models

        client = QdrantClient(path=str(folder))
        client.create_collection("bench", vectors_config=models.VectorParams(size=corpus.shape[1],
                                                                             distance=models.Distance.COSINE))
        for start in range(0, len(corpus), 4096):
            part = corpus[start:start + 4096]
            client.upload_collection("bench", part, ids=range(start, start + len(part)))
        return client

    def search(client: object, query: np.ndarray) -> list[int]:
        return [p.id for p in client.query_points("bench", query=query.tolist(), limit=K).points]

    return build, search


def _lancedb() -> Engine:
    def build(corpus: np.ndarray, folder: Path) -> object:
        import lancedb
        import pyarrow as pa

        db = lancedb.connect(str(folder))
        flat = pa.FixedSizeListArray.from_arrays(pa.array(corpus.reshape(-1)), corpus.shape[1])
        table = db.create_table("bench", pa.table({"id": np.arange(len(corpus)), "vector": flat}))
        if len(corpus) >= 65536:  # below this LanceDB's own docs say brute force is fine
            table.create_index(metric="cosine", num_partitions=int(np.sqrt(len(corpus))), num_sub_vectors=96)
        return table

    def search(table: object, query: np.ndarray) -> list[int]:
        hits = table.search(query).metric("cosine").nprobes(20).refine_factor(10).limit(K).to_arrow()
        return hits.column("id").to_pylist()

    return build, search


ENGINES: dict[str, Callable[[], Engine]] = {
    "faiss-hnsw": lambda: _faiss("hnsw"), "faiss-flat": lambda: _faiss("flat"), "lancedb": _lancedb,
    "qdrant-local": _qdrant,  # last: its build is the slowest by far
}


def run_engine(name: str, corpus: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, object]:
    build, search = ENGINES[name]()
    rss = psutil.Process().memory_info().rss
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    try:
        start = time.perf_counter()
        handle = build(corpus, folder)
        build_s = time.perf_counter() - start
        search(handle, queries[0])  # warm-up (first-call allocations, lazy loads)
        latencies, hits = [], 0
        for query, expected in zip(queries, truth):
            start = time.perf_counter()
            found = search(handle, query)
            latencies.append((time.perf_counter() - start) * 1000)
            hits += len(set(found[:K]) & set(expected.tolist()))
        memory_mb = (psutil.Process().memory_info().rss - rss) / 2**20
        disk_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"engine": name, "n": len(corpus), "build_s": round(build_s, 2),
            "vectors_per_s": round(len(corpus) / build_s),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p95_ms": round(float(np.percentile(latencies, 95)), 2),
            "recall@10": round(hits / (K * len(queries)), 4), "rss_growth_mb": round(memory_mb),
            "disk_mb": round(disk_mb), "load": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="Comma-separated corpus sizes.")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--json", action="store_true", help="One JSON line per result.")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        corpus = clustered(n, args.dim, seed=0)
        queries = queries_near(corpus, args.queries, seed=0)
        truth = exact_top_k(corpus, queries)
        for name in args.engines.split(","):
            result = run_engine(name, corpus, queries, truth)
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
