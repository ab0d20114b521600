"""Translators: a caption in another language, from a seq2seq model, a causal LM or the DeepL API.

:class:`TranslatorBackend` is what they share: which language they translate from, batching, failure
isolation. The backends: ``translate`` (a seq2seq model through transformers, here), ``translate-lm``
(a causal language model prompted to translate, :mod:`.translate_lm`) and ``deepl`` (the DeepL API,
:mod:`.deepl_api`).

Multilingual seq2seq models need language codes, each family its own: M2M100 sets ``tokenizer.src_lang``
and forces ``tokenizer.get_lang_id(target)`` as the first generated token (``__ko__``); NLLB-200 and
mBART-50 do the same with FLORES-200 codes (``kor_Hang``/``eng_Latn``) or ``ko_KR``/``en_XX`` looked up
as tokens. A Marian (opus-mt) model translates one direction and needs no code. ``style = "auto"`` reads
the family from the tokenizer class.

The text translated is the *direct* caption of the source language for the same row (the first
non-translation candidate of its chain), never a translation itself, so two languages can each fall
back on translating the other without a cycle.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from kdata.caption.backends.base import BACKENDS, Backend, Candidate, Failed, RowItem, Source, chunks, run_isolated
from kdata.caption.backends.loading import check_device, inference, load_pretrained
from kdata.textnorm import normalize_text

STYLES = ("auto", "m2m100", "nllb", "mbart", "marian")
# Language codes per model family for kcli's two caption languages.
LANGUAGE_CODES: dict[str, dict[str, str]] = {
    "m2m100": {"en": "en", "ko": "ko"},
    "nllb": {"en": "eng_Latn", "ko": "kor_Hang"},
    "mbart": {"en": "en_XX", "ko": "ko_KR"},
}


@dataclass
class TranslateConfig:
    model: str
    source: str  # the language translated from: "en" or "ko" (the target is the chain's language)
    style: str = "auto"
    source_code: str | None = None  # override the family's code for the source language
    target_code: str | None = None
    max_new_tokens: int = 64
    num_beams: int = 1
    batch_size: int = 16
    device: str = "auto"  # a GPU where the worker has one, else the CPU

    def __post_init__(self) -> None:
        check_source(self.source)
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        check_device(self.device)


def detect_style(tokenizer: Any) -> str:
    name = type(tokenizer).__name__.lower()
    for style in ("m2m100", "nllb", "mbart"):
        if style in name:
            return style
    return "marian"


def check_source(source: str) -> None:
    if source not in ("en", "ko"):
        raise ValueError(f"source must be 'en' or 'ko', got {source!r}")


class TranslatorBackend(Backend):
    """A backend that translates each row's caption in ``config.source`` into the chain's language.

    Override :meth:`_translate` (texts in, translations out, in order); :meth:`_translate_batch` runs it
    with failure isolation, and a backend whose failures are not per text (an API) overrides that too.
    """

    source = Source.TRANSLATION
    prompt_hash: str | None = None  # recorded with each caption where a prompt shapes the translation

    def __init__(self, config: Any, language: str, label: str) -> None:
        super().__init__(config, language, label)
        if config.source == language:
            raise ValueError(f"{label}: translates from {config.source!r} into the same language")

    @property
    def source_language(self) -> str:
        return self.config.source

    @property
    def model_name(self) -> str:
        """What ``caption_<lang>_model`` records for this backend's captions."""
        return self.config.model

    def run(self, items: list[RowItem]) -> list[list[Candidate]]:
        out: list[list[Candidate]] = [[] for _ in items]
        todo = [(i, item.source_texts[self.source_language]) for i, item in enumerate(items)
                if item.source_texts.get(self.source_language)]
        for chunk in chunks(todo, self.config.batch_size):
            for (index, _), result in zip(chunk, self._translate_batch([text for _, text in chunk])):
                if isinstance(result, Failed):
                    out[index] = [self.failure(result.error, self.model_name)]
                elif result:
                    out[index] = [self.candidate(result, self.model_name, self.prompt_hash)]
        return out

    def _translate_batch(self, texts: list[str]) -> list[str | Failed]:
        return run_isolated(self._translate, texts)

    @abstractmethod
    def _translate(self, texts: list[str]) -> list[str]:
        """The translations of ``texts``, in order ("" where there is none)."""


@BACKENDS.register("translate")
class TranslateBackend(TranslatorBackend):
    config_cls = TranslateConfig

    def __init__(self, config: TranslateConfig, language: str, label: str) -> None:
        super().__init__(config, language, label)
        self.model: Any = None
        self.tokenizer: Any = None
        self.generate_kwargs: dict[str, Any] = {}

    def load(self) -> None:
        config: TranslateConfig = self.config
        self.model, self.tokenizer = load_pretrained(
            config.model, "translation", "AutoModelForSeq2SeqLM", "AutoTokenizer", config.device
        )
        style = detect_style(self.tokenizer) if config.style == "auto" else config.style
        self.generate_kwargs = {"max_new_tokens": config.max_new_tokens, "num_beams": config.num_beams}
        if style == "marian":
            return
        codes = LANGUAGE_CODES[style]
        self.tokenizer.src_lang = config.source_code or codes[config.source]
        target = config.target_code or codes[self.language]
        if style == "m2m100":
            forced = self.tokenizer.get_lang_id(target)
        else:
            forced = self.tokenizer.convert_tokens_to_ids(target)
        self.generate_kwargs["forced_bos_token_id"] = forced

    def _translate(self, texts: list[str]) -> list[str]:
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
        with inference():
            ids = self.model.generate(**inputs.to(self.model.device), **self.generate_kwargs)
        return [normalize_text(t) for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]
