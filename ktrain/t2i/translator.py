"""Korean → English for the translate-then-generate baseline, through kcli's registered ``translate`` backend.

This is what a user without kcli does: put the Korean prompt through a translation model and hand the
English to the unchanged English pipeline. The caption stage's ``translate`` backend
(:mod:`kdata.caption.backends.translate`) already loads any seq2seq translator the kcli way (a preset, a
Hub id or a folder; M2M100 / NLLB / mBART language codes or a Marian pair) and decodes greedily; here it
is asked for one prompt at a time, from ``ko`` into ``en``.
"""

from __future__ import annotations

from kdata.errors import KcliError

# CLIP reads 77 tokens of the translation; longer output would be decoded only to be cut off.
MAX_NEW_TOKENS = 77


class KoreanToEnglish:
    """Loaded once; ``translate(texts)`` returns one English string per Korean input."""

    def __init__(self, spec: str, device: str = "cpu") -> None:
        from kdata.caption.backends import translate  # noqa: F401 - registers the backend
        from kdata.caption.backends.base import BACKENDS
        from kdata.caption.backends.translate import TranslateConfig

        config = TranslateConfig(model=spec, source="ko", max_new_tokens=MAX_NEW_TOKENS, device=device)
        self.spec = spec
        self.backend = BACKENDS.get("translate")(config, "en", "t2i:translate")
        self.backend.load()

    def translate(self, texts: list[str]) -> list[str]:
        from kdata.caption.backends.base import RowItem

        items = [RowItem(row={}, source_texts={"ko": text}) for text in texts]
        english = []
        for text, candidates in zip(texts, self.backend.run(items)):
            if not candidates or not candidates[0].ok:
                reason = (candidates[0].error if candidates else None) or "an empty translation"
                raise KcliError(f"translator {self.spec!r} failed on {text!r}: {reason}")
            english.append(candidates[0].text)
        return english
