"""An on-disk cache of CLIP image embeddings keyed by (model id, image sha256).

Changing a threshold and filtering again must not recompute embeddings, and neither must filtering a
second manifest that shares images with the first. Each model has a directory under the cache root
(``<kcli home>/embeddings`` unless configured) holding immutable Parquet parts (``sha256``,
``embedding``); a part is written temp-then-rename, so concurrent workers and killed runs never leave a
half part behind. Opening the cache reads only the ``sha256`` column of each part to build the index.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kdata.atomic import atomic_path, write_json_atomic
from kdata.errors import ConfigError

PART_GLOB = "part-*.parquet"


def default_cache_root() -> Path:
    from kdata.models.home import kcli_home

    return kcli_home() / "embeddings"


def model_slug(model_id: str) -> str:
    """A directory name for a model id: readable, and unique through a short hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[-60:].strip("_")
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:10]}"


class EmbeddingCache:
    def __init__(self, root: Path, model_id: str, dim: int) -> None:
        self.dir = Path(root) / model_slug(model_id)
        self.model_id = model_id
        self.dim = dim
        self.index: dict[str, tuple[Path, int]] = {}
        self._check_model_record()
        for part in sorted(self.dir.glob(PART_GLOB)):
            self._index_part(part)

    @property
    def slug(self) -> str:
        return self.dir.name

    def _check_model_record(self) -> None:
        record = self.dir / "model.json"
        if record.exists():
            saved = json.loads(record.read_text(encoding="utf-8"))
            if saved.get("dim") != self.dim:
                raise ConfigError(f"embedding cache {self.dir} holds {saved.get('dim')}-d embeddings for "
                                  f"{self.model_id!r}, but the model gives {self.dim}-d; delete that directory")
            return
        write_json_atomic(record, {"model_id": self.model_id, "dim": self.dim})

    def _index_part(self, part: Path) -> None:
        shas = pq.read_table(part, columns=["sha256"]).column("sha256").to_pylist()
        for row, sha in enumerate(shas):
            self.index.setdefault(sha, (part, row))

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self.index

    def get_many(self, shas: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached embeddings among ``shas`` (misses are simply absent)."""
        by_part: dict[Path, list[tuple[str, int]]] = {}
        for sha in shas:
            if sha in self.index:
                part, row = self.index[sha]
                by_part.setdefault(part, []).append((sha, row))
        found: dict[str, np.ndarray] = {}
        for part, wanted in by_part.items():
            column = pq.read_table(part, columns=["embedding"]).column("embedding").combine_chunks()
            matrix = column.values.to_numpy(zero_copy_only=False).reshape(-1, self.dim)
            for sha, row in wanted:
                found[sha] = matrix[row]
        return found

    def put_many(self, shas: Sequence[str], embeddings: np.ndarray) -> None:
        if not shas:
            return
        flat = pa.array(np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1))
        table = pa.table({"sha256": pa.array(list(shas), pa.string()),
                          "embedding": pa.FixedSizeListArray.from_arrays(flat, self.dim)})
        part = self.dir / f"part-{uuid.uuid4().hex}.parquet"
        with atomic_path(part) as tmp:
            pq.write_table(table, tmp)
        for row, sha in enumerate(shas):
            self.index.setdefault(sha, (part, row))

    def ref(self, sha256: str) -> str:
        """What the ``embedding_ref`` column holds: ``<model dir>/<sha256>`` under the cache root."""
        return f"{self.slug}/{sha256}"
