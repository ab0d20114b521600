"""``translate-lm``: a caption translated by a causal (decoder-only) language model from a prompt.

Many models that know Korean well are decoder-only (Qwen2.5, EXAONE, Llama-3-Korean fine-tunes); they
translate when prompted, e.g. ``"Translate Korean to English: {text}\\nEnglish:"``. The prompt is filled
with each row's source caption, the model continues it greedily (so a resumed run gets the same
caption), and the caption is the continuation up to ``stop`` (a base model keeps writing after the
answer), stripped. ``chat = true`` sends the filled prompt as a user message through the tokenizer's chat
template instead, as instruction-tuned models expect. The model loads like every kcli model: a Hub id or
a local folder, through ``AutoModelForCausalLM`` and ``AutoTokenizer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdata.caption.backends.base import BACKENDS, short_hash
from kdata.caption.backends.loading import check_device, inference, load_pretrained
from kdata.caption.backends.translate import TranslatorBackend, check_source
from kdata.textnorm import normalize_text

PLACEHOLDER = "{text}"
LANGUAGE_NAMES = {"en": "English", "ko": "Korean"}


def default_prompt(source: str, target: str) -> str:
    """``Translate Korean to English: {text}\\nEnglish:`` for ko -> en, and the same shape the other way."""
    return f"Translate {LANGUAGE_NAMES[source]} to {LANGUAGE_NAMES[target]}: {PLACEHOLDER}\n{LANGUAGE_NAMES[target]}:"


@dataclass
class TranslateLmConfig:
    model: str
    source: str  # the language translated from: "en" or "ko"
    prompt: str = ""  # with {text} where the caption goes; "": default_prompt(source, target)
    chat: bool = False  # send the filled prompt through the tokenizer's chat template (instruction models)
    stop: str = "\n"  # the caption ends where this first appears in the continuation; "": keep it all
    max_new_tokens: int = 64
    batch_size: int = 8
    device: str = "auto"  # a GPU where the worker has one, else the CPU

    def __post_init__(self) -> None:
        check_source(self.source)
        if self.prompt and self.prompt.count(PLACEHOLDER) != 1:
            raise ValueError(f"prompt must hold {PLACEHOLDER} once, where the caption goes; got {self.prompt!r}")
        for name in ("max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        check_device(self.device)


def fill_prompt(template: str, text: str) -> str:
    """The template with the caption in place of ``{text}`` (braces in the caption stay as they are)."""
    return template.replace(PLACEHOLDER, text)


def answer(continuation: str, stop: str) -> str:
    """The translation in what the model wrote after the prompt: up to ``stop``, normalised."""
    if stop:
        continuation = continuation.split(stop, 1)[0]
    return normalize_text(continuation)


@BACKENDS.register("translate-lm")
class TranslateLmBackend(TranslatorBackend):
    config_cls = TranslateLmConfig

    def __init__(self, config: TranslateLmConfig, language: str, label: str) -> None:
        super().__init__(config, language, label)
        self.template = config.prompt or default_prompt(config.source, language)
        self.prompt_hash = short_hash(self.template + (" [chat]" if config.chat else ""))
        self.model: Any = None
        self.tokenizer: Any = None

    def load(self) -> None:
        self.model, self.tokenizer = load_pretrained(
            self.config.model, "causal-lm", "AutoModelForCausalLM", "AutoTokenizer", self.config.device
        )
        # A batch of prompts must end where generation starts: pad on the left, with EOS where there is no pad.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def prompts(self, texts: list[str]) -> list[str]:
        filled = [fill_prompt(self.template, text) for text in texts]
        if not self.config.chat:
            return filled
        return [self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                   add_generation_prompt=True) for prompt in filled]

    def _translate(self, texts: list[str]) -> list[str]:
        # A chat template already holds the special tokens the model expects; adding BOS again would double it.
        inputs = self.tokenizer(self.prompts(texts), return_tensors="pt", padding=True,
                                add_special_tokens=not self.config.chat)
        with inference():
            ids = self.model.generate(**inputs.to(self.model.device), max_new_tokens=self.config.max_new_tokens,
                                      do_sample=False, num_beams=1, pad_token_id=self.tokenizer.pad_token_id)
        continuations = self.tokenizer.batch_decode(ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return [answer(text, self.config.stop) for text in continuations]
