"""Language codes for each translation-model family, and the real M2M100 path on the tiny presets."""

from __future__ import annotations

from typing import Any

import pytest

from kdata.caption.backends import translate
from kdata.caption.backends.base import RowItem
from kdata.caption.backends.translate import TranslateBackend, TranslateConfig


class _Tokenizer:
    """Stands in for a tokenizer class of each family; ids are looked up in a small table."""

    ids = {"kor_Hang": 256098, "eng_Latn": 256047, "ko_KR": 250014, "en_XX": 250004, "__ko__": 128052,
           "__en__": 128022}

    def __init__(self) -> None:
        self.src_lang: str | None = None

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.ids[token]

    def get_lang_id(self, code: str) -> int:
        return self.ids[f"__{code}__"]


def _tokenizer_named(name: str) -> Any:
    return type(name, (_Tokenizer,), {})()


@pytest.mark.parametrize(
    ("tokenizer_class", "language", "source", "src_lang", "forced"),
    [
        ("NllbTokenizerFast", "ko", "en", "eng_Latn", 256098),
        ("NllbTokenizerFast", "en", "ko", "kor_Hang", 256047),
        ("MBart50TokenizerFast", "en", "ko", "ko_KR", 250004),
        ("M2M100Tokenizer", "ko", "en", "en", 128052),
        ("MarianTokenizer", "en", "ko", None, None),  # one direction per model: no codes at all
    ],
)
def test_language_codes_per_family(monkeypatch: pytest.MonkeyPatch, tokenizer_class: str, language: str, source: str,
                                   src_lang: str | None, forced: int | None) -> None:
    tokenizer = _tokenizer_named(tokenizer_class)
    monkeypatch.setattr(translate, "load_pretrained", lambda *args: (object(), tokenizer))
    backend = TranslateBackend(TranslateConfig(model="some/model", source=source), language, f"{language}[0]")
    backend.load()
    assert tokenizer.src_lang == src_lang
    assert backend.generate_kwargs.get("forced_bos_token_id") == forced


def test_codes_can_be_overridden_for_other_code_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = _tokenizer_named("NllbTokenizerFast")
    tokenizer.ids = {**_Tokenizer.ids, "kor_Kore": 7}
    monkeypatch.setattr(translate, "load_pretrained", lambda *args: (object(), tokenizer))
    config = TranslateConfig(model="m", source="en", target_code="kor_Kore")
    backend = TranslateBackend(config, "ko", "ko[0]")
    backend.load()
    assert backend.generate_kwargs["forced_bos_token_id"] == 7


def test_tiny_m2m100_translates_a_batch_into_the_target_language() -> None:
    backend = TranslateBackend(TranslateConfig(model="tiny-translator-en-ko", source="en", max_new_tokens=5),
                               "ko", "ko[0]:translate")
    backend.load()
    assert backend.tokenizer.src_lang == "en"
    assert backend.generate_kwargs["forced_bos_token_id"] == backend.tokenizer.get_lang_id("ko")
    items = [RowItem({"key": "a"}, source_texts={"en": "a cat sleeps"}), RowItem({"key": "b"}),
             RowItem({"key": "c"}, source_texts={"en": "a bowl of bibimbap"})]
    out = backend.run(items)
    assert out[1] == []  # nothing to translate from
    for [candidate] in (out[0], out[2]):
        assert candidate.source == "translation" and candidate.model == "tiny-translator-en-ko"
        assert isinstance(candidate.text, str) and candidate.text.strip() and "__ko__" not in candidate.text
