"""The report's search box: text (Korean or English) → images, through an image index built from the manifest.

``kcli index build MANIFEST --out INDEX`` embeds the manifest's ``ok`` images with a CLIP image tower;
``kcli view MANIFEST --index INDEX`` serves the report with :func:`index_search` behind ``/api/search``,
which embeds the query with the same CLIP text tower (or the Korean encoder given as ``--text-model``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from kdata.index.search import PromptIndex
from kdata.report.serve import SearchFunction


def index_search(index_path: str | Path, manifest_path: str | Path | None = None) -> SearchFunction:
    """A search function over an image index; refused when the index holds prompts, or another manifest's images."""
    index = PromptIndex.open(index_path)
    if index.record.get("kind") != "image":
        raise ConfigError(f"{index.root} indexes {index.record.get('kind')} text, not images; build one from the "
                          "manifest: kcli index build MANIFEST --out INDEX")
    if manifest_path is not None and Path(index.record["source"]) != Path(manifest_path).resolve():
        raise ConfigError(f"{index.root} was built from {index.record['source']}, not {Path(manifest_path).resolve()}")
    index.embedder  # noqa: B018 - load the model now, not on the first query

    def search(text: str, k: int) -> dict[str, Any]:
        result = index.search(text, k)
        return {"query": text, "hits": [{"key": h.key, "score": h.score} for h in result.hits],
                "embed_ms": result.embed_ms, "search_ms": result.search_ms}

    return search
