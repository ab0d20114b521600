"""Choosing each row's caption per language from the backends listed in order of preference.

Within a batch, each backend runs once, on just the rows that need it: with ``collect = "first"`` a
backend only sees rows that no earlier backend captioned, so a cheap template or alt text spares the
model. A translation reads the source language's *direct* caption (its chain without translations),
which is computed on demand and shared with that language's own resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kdata.caption.backends.base import Backend, Candidate, RowItem
from kdata.caption.backends.translate import TranslatorBackend
from kdata.caption.config import CaptionConfig

NO_CANDIDATE = "no_candidate"


class Scorer(Protocol):
    def score(self, items: list[RowItem], texts: list[list[str]]) -> list[list[float] | None]: ...


@dataclass
class Choice:
    """A row's outcome for one language: the chosen candidate (or none, with a reason) and all candidates."""

    caption: Candidate | None
    reason: str | None
    candidates: list[Candidate] = field(default_factory=list)


class BatchResolver:
    def __init__(self, chains: dict[str, list[Backend]], config: CaptionConfig, items: list[RowItem],
                 scorer: Scorer | None = None) -> None:
        self.chains = chains
        self.config = config
        self.items = items
        self.scorer = scorer
        self._results: dict[tuple[str, int], dict[int, list[Candidate]]] = {}
        self._direct: dict[str, dict[int, Candidate | None]] = {}

    def resolve(self) -> dict[str, list[Choice]]:
        rows = list(range(len(self.items)))
        out: dict[str, list[Choice]] = {}
        for language, chain in self.chains.items():
            if chain:
                collected = self._collect(language, rows, with_translations=True)
                picked = self._pick(language, collected)
                out[language] = [_choice(picked[i], collected[i]) for i in rows]
        return out

    def direct(self, language: str, rows: list[int]) -> dict[int, Candidate | None]:
        memo = self._direct.setdefault(language, {})
        todo = [i for i in rows if i not in memo]
        if todo:
            memo.update(self._pick(language, self._collect(language, todo, with_translations=False)))
        return {i: memo[i] for i in rows}

    def _collect(self, language: str, rows: list[int], with_translations: bool) -> dict[int, list[Candidate]]:
        collected: dict[int, list[Candidate]] = {i: [] for i in rows}
        every_backend = self.config.collects_all(language)
        remaining = list(rows)
        for index, backend in enumerate(self.chains[language]):
            if isinstance(backend, TranslatorBackend) and not with_translations:
                continue
            targets = list(rows) if every_backend else remaining
            if not targets:
                break
            results = self._run(language, index, targets)
            for i in targets:
                collected[i].extend(results[i])
            if not every_backend:
                remaining = [i for i in remaining if not any(c.ok for c in collected[i])]
        return collected

    def _run(self, language: str, index: int, rows: list[int]) -> dict[int, list[Candidate]]:
        """The backend's candidates for ``rows``, running it only on rows it has not seen in this batch."""
        done = self._results.setdefault((language, index), {})
        todo = [i for i in rows if i not in done]
        if todo:
            backend = self.chains[language][index]
            if isinstance(backend, TranslatorBackend):
                source = backend.source_language
                for i, candidate in self.direct(source, todo).items():
                    if candidate is not None and candidate.text:
                        self.items[i].source_texts[source] = candidate.text
            done.update(zip(todo, backend.run([self.items[i] for i in todo])))
        return done

    def _pick(self, language: str, collected: dict[int, list[Candidate]]) -> dict[int, Candidate | None]:
        if self.scorer is not None and self.config.reranks(language):
            self._score(collected)
            return {i: max((c for c in cands if c.ok), key=_score_key, default=None) for i, cands in collected.items()}
        return {i: next((c for c in cands if c.ok), None) for i, cands in collected.items()}

    def _score(self, collected: dict[int, list[Candidate]]) -> None:
        rows = [i for i, cands in collected.items() if any(c.ok and c.score is None for c in cands)]
        if not rows or self.scorer is None:
            return
        texts = [[c.text or "" for c in collected[i] if c.ok] for i in rows]
        scores = self.scorer.score([self.items[i] for i in rows], texts)
        for i, row_scores in zip(rows, scores):
            if row_scores is not None:
                for candidate, score in zip([c for c in collected[i] if c.ok], row_scores):
                    candidate.score = score


def _score_key(candidate: Candidate) -> float:
    # An unscored candidate (its image could not be read) ranks below every scored one; max() keeps the
    # first of equal keys, so without any score the order of preference decides.
    return candidate.score if candidate.score is not None else float("-inf")


def _choice(picked: Candidate | None, candidates: list[Candidate]) -> Choice:
    if picked is not None:
        return Choice(picked, None, candidates)
    errors = [f"{c.backend}: {c.error}" for c in candidates if c.error]
    return Choice(None, "; ".join(dict.fromkeys(errors)) if errors else NO_CANDIDATE, candidates)
