"""The ``enriched`` pipeline's text: a Korean prompt's translation with its nearest English corpus prompt appended.

Why this shape. A prompt corpus (DiffusionDB-like, ``kcli index build``) holds English prompts that people
wrote for the English text encoder: subject words plus the style and quality phrases ("ink painting",
"highly detailed") that a short Korean prompt and its translation lack. The Korean text encoder reads Korean
only (its tokenizer learns Korean merges unless trained with ``--include-english``), so the neighbour is
not fed to it; it goes, after the translation, to the base's own English encoder, which reads it as it was
written. The translation comes first so that CLIP's 77-token cut falls on the neighbour, never on the
user's own words.

The neighbour is searched with the Korean prompt itself (the index embeds Korean and English into one
space, as ``kcli generate --prompt-index`` and the demo's suggestions use it), so what retrieval adds is
measured apart from what translation adds. Of the ``CANDIDATES`` nearest hits the first without Hangul is
taken: a mixed corpus may hold the Korean prompt itself, which the English encoder cannot read. With no
English hit, the translation renders alone and the row records no neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdata.textnorm import has_hangul

CANDIDATES = 10  # hits looked at for an English one; a handful covers a corpus that mixes languages


@dataclass(frozen=True)
class Neighbour:
    text: str
    score: float
    key: str


def nearest_english(index: Any, korean: str, candidates: int = CANDIDATES) -> Neighbour | None:
    """The nearest prompt without Hangul among ``candidates`` hits of ``index`` (a kdata.index.PromptIndex)."""
    for hit in index.search(korean, candidates).hits:
        if hit.text.strip() and not has_hangul(hit.text):
            return Neighbour(hit.text.strip(), hit.score, hit.key)
    return None


def enriched_prompt(translation: str, neighbour: Neighbour | None) -> str:
    """``translation, neighbour``; the translation alone when there is no neighbour or it says the same."""
    if neighbour is None or neighbour.text.casefold() == translation.strip().casefold():
        return translation
    return f"{translation.rstrip(' ,.')}, {neighbour.text}"
