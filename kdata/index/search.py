"""Searching a built index: :class:`PromptIndex` is the public API (``kcli index search``, ``kcli generate
--prompt-index``, the report server's search endpoint).

    index = PromptIndex.open("prompts.idx")
    result = index.search("한복 입은 여인", k=5)   # SearchResult: hits (key, text, source, score), latency

The embedder named in the index is loaded on the first text query (not on open), so opening an index to
look at its record costs nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kdata.errors import ConfigError
from kdata.index.build import RECORD, iter_chunks, open_engine
from kdata.index.embedders import Embedder, load_embedder
from kdata.index.engines import FaissEngine, VectorEngine


@dataclass
class Hit:
    key: str
    text: str
    source: str
    score: float


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    embed_ms: float
    search_ms: float
    engine: str
    rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PromptIndex:
    """A complete index folder, opened for queries."""

    def __init__(self, root: Path, record: dict[str, Any], engine: VectorEngine) -> None:
        self.root = root
        self.record = record
        self.engine = engine
        self._embedder: Embedder | None = None
        table = _payloads(root)
        self._keys: list[str] = table["key"]
        self._texts: list[str] = table["text"]
        self._sources: list[str] = table["source"]

    @classmethod
    def open(cls, path: str | Path, qdrant_url: str | None = None) -> PromptIndex:
        """Open ``path``; ``qdrant_url`` overrides the server an index built with ``--qdrant-url`` points at."""
        root = Path(path).expanduser().resolve()
        try:
            record = json.loads((root / RECORD).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{root} is not a finished index (no {RECORD}); run kcli index build, or re-run it "
                              "to resume") from None
        url = qdrant_url or record.get("qdrant_url")
        engine = open_engine(root, record["dim"], url, record.get("collection")) if url else FaissEngine.open(root)
        return cls(root, record, engine)

    @property
    def rows(self) -> int:
        return int(self.record["rows"])

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            config = self.record["config"]
            embedder = load_embedder(config["embedder"], config["model"], config.get("text_model", ""),
                                     config.get("device", "cpu"))
            if embedder.model_id != self.record["model_id"]:
                raise ConfigError(f"{self.root} was built with {self.record['model_id']!r}, but that model now "
                                  f"loads as {embedder.model_id!r} (its files changed); rebuild with --overwrite")
            self._embedder = embedder
        return self._embedder

    def search(self, text: str, k: int = 5) -> SearchResult:
        start = time.perf_counter()
        vector = self.embedder.encode_texts([text])[0]
        embed_ms = (time.perf_counter() - start) * 1000
        result = self.search_vector(vector, k)
        result.query, result.embed_ms = text, round(embed_ms, 2)
        return result

    def search_vector(self, vector: np.ndarray, k: int = 5) -> SearchResult:
        if vector.shape[-1] != self.record["dim"]:
            raise ConfigError(f"a {vector.shape[-1]}-d query for a {self.record['dim']}-d index")
        start = time.perf_counter()
        ids, scores = self.engine.search(vector, min(k, max(self.rows, 1)))
        search_ms = (time.perf_counter() - start) * 1000
        hits = [Hit(self._keys[i], self._texts[i], self._sources[i], round(float(s), 4)) for i, s in zip(ids, scores)]
        return SearchResult("", hits, 0.0, round(search_ms, 2), self.engine.name, self.rows)


def _payloads(root: Path) -> dict[str, list[str]]:
    """key/text/source of every row in id order (ids are row numbers, chunks are in order)."""
    columns: dict[str, list[str]] = {"key": [], "text": [], "source": []}
    for table in iter_chunks(root, ["key", "text", "source"]):
        for name, values in columns.items():
            values.extend(table.column(name).to_pylist())
    return columns
