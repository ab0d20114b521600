"""A vector index of prompts and images, searched with Korean or English text (``kcli index``).

Public API: :func:`build_index` with an :class:`IndexConfig`, and :class:`PromptIndex` to query it
(``PromptIndex.open(path).search(text, k)``). Embedders come from :data:`EMBEDDERS` (see
:mod:`kdata.index.embedders`); engines from :mod:`kdata.index.engines`. Heavy imports are lazy.
"""

from __future__ import annotations

from kdata.lazy import lazy_exports

_EXPORTS = {
    "IndexConfig": "kdata.index.build",
    "IndexBuildResult": "kdata.index.build",
    "build_index": "kdata.index.build",
    "PromptIndex": "kdata.index.search",
    "SearchResult": "kdata.index.search",
    "Hit": "kdata.index.search",
    "EMBEDDERS": "kdata.index.embedders",
    "load_embedder": "kdata.index.embedders",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
