"""Korean → English translation for the translate-then-generate baseline: a seq2seq model via transformers.

This is what a user without kcli does: put the Korean prompt through a translation model and hand the
English to the unchanged English pipeline. Multilingual families need language codes (M2M100 sets
``src_lang`` and forces ``__en__`` first; NLLB-200 and mBART-50 force ``eng_Latn`` / ``en_XX``); a Marian
(opus-mt ko-en) model needs none. The same family detection and codes as kcli's caption ``translate``
backend, kept to one small class so it can defer to that backend once both live on one branch.
"""

from __future__ import annotations

from typing import Any

from kdata.models._deps import require

# Source and target codes per model family, read from the tokenizer's class name.
LANGUAGE_CODES: dict[str, tuple[str, str]] = {
    "m2m100": ("ko", "en"),
    "nllb": ("kor_Hang", "eng_Latn"),
    "mbart": ("ko_KR", "en_XX"),
}


class KoreanToEnglish:
    """Loaded once; ``translate(texts)`` returns one English string per Korean input, greedy decoding."""

    def __init__(self, spec: str, device: str = "cpu", max_new_tokens: int = 77) -> None:
        torch = require("torch", "torch")
        transformers = require("transformers", "transformers")
        from kdata.models.resolve import _load_errors, resolve_model

        path = resolve_model(spec, family="translation")
        with _load_errors(spec, "translation model"):
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(path)
            self.model = transformers.AutoModelForSeq2SeqLM.from_pretrained(path, dtype=torch.float32)
        self.model.to(device).eval()
        self.spec, self.device = spec, device
        # 77 tokens is all the CLIP text encoder reads of the translation anyway.
        self.generate_kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "num_beams": 1}
        family = next((f for f in LANGUAGE_CODES if f in type(self.tokenizer).__name__.lower()), None)
        if family is not None:
            source, target = LANGUAGE_CODES[family]
            self.tokenizer.src_lang = source
            forced = (self.tokenizer.get_lang_id(target) if family == "m2m100"
                      else self.tokenizer.convert_tokens_to_ids(target))
            self.generate_kwargs["forced_bos_token_id"] = forced

    def translate(self, texts: list[str]) -> list[str]:
        torch = require("torch", "torch")
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True).to(self.device)
        with torch.inference_mode():
            ids = self.model.generate(**inputs, **self.generate_kwargs)
        return [" ".join(t.split()) for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]
