"""Prompt suggestions for the page: the corpus prompts nearest to what a person is typing (``--prompt-index``).

The index is a prompt index from ``kcli index build`` (:class:`kdata.index.PromptIndex`, the same lookup as
``kcli generate --prompt-index``). It is opened and its embedder loaded when the server starts, so a wrong
path fails before the model loads and the first keystroke does not wait for a model. The query is what the
page sends as the person types: checked against the serve limits (:func:`check_suggest`), NFC-normalised
(Hangul typed on macOS arrives decomposed), then searched. Hit texts are corpus data: the page sets them
with ``textContent`` only.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from ktrain.t2i.serve.limits import RequestRejected, ServeLimits

MAX_SUGGESTIONS = 10  # a list longer than this under a text box is not read; it also bounds the search's work
DEFAULT_SUGGESTIONS = 5


class PromptSuggester:
    """A prompt index opened for the page's ``/api/suggest``."""

    def __init__(self, index: Any) -> None:  # a kdata.index.PromptIndex
        self.index = index

    @classmethod
    def open(cls, path: str | Path) -> PromptSuggester:
        from kdata.index import PromptIndex

        index = PromptIndex.open(path)
        kind = index.record.get("kind")
        if kind == "image":
            raise ConfigError(f"--prompt-index {path}: it indexes images, not prompts; build one from a prompt "
                              "file: kcli index build PROMPTS.jsonl --out INDEX")
        index.embedder  # noqa: B018 - load the model now, not on the first keystroke
        return cls(index)

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.index.root), "rows": self.index.rows, "model": self.index.record.get("model_id")}

    def suggest(self, query: str, k: int) -> dict[str, Any]:
        """The ``k`` nearest prompts to ``query`` (already checked), with their scores and the search's time."""
        result = self.index.search(query, k)
        return {"query": query, "hits": [{"text": h.text, "score": h.score, "key": h.key} for h in result.hits],
                "embed_ms": result.embed_ms, "search_ms": result.search_ms, "rows": result.rows}


def check_suggest(query: str, k: int, limits: ServeLimits) -> tuple[str, int]:
    """(query, k) as the search gets them, or :class:`RequestRejected` naming the limit."""
    text = unicodedata.normalize("NFC", query).strip()
    if len(text) > limits.max_prompt_chars:
        raise RequestRejected(f"The query is {len(text)} characters long; the limit is {limits.max_prompt_chars} "
                              "characters.")
    if not 1 <= k <= MAX_SUGGESTIONS:
        raise RequestRejected(f"k must be between 1 and {MAX_SUGGESTIONS}; got {k}.")
    return text, k
