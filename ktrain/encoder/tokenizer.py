"""``kcli tokenizer train``: a Korean-capable byte-level BPE tokenizer in CLIP's format.

The tokenizer is trained with Hugging Face ``tokenizers`` through the very pipeline transformers'
``CLIPTokenizer`` runs (NFC + whitespace folding + lower case, CLIP's split regex, byte-level
pre-tokenizer, BPE with the ``</w>`` word-final suffix), so the merges learned are the merges applied.
The vocabulary is then laid out the way OpenAI's CLIP vocabulary is: the 256 byte characters, their 256
word-final ``</w>`` forms, one token per merge in merge order, then ``<|startoftext|>`` and
``<|endoftext|>`` (the largest id, so argmax pooling still finds the end of text). Having every byte in
both forms means no character ever becomes the unknown token; the ``tokenizers`` trainer alone only adds
the word-final forms it happened to see. The result is saved with ``save_pretrained`` and loads with
``CLIPTokenizer.from_pretrained`` (77 positions, padded with end-of-text as SD 1.x's tokenizer is).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kdata.atomic import write_json_atomic, write_text_atomic
from kdata.deps import require
from kdata.errors import ConfigError
from kdata.models.clip_tokenizer import BOS_TOKEN, CLIP_CONTEXT_LENGTH, EOS_TOKEN, bytes_to_unicode

SUFFIX = "</w>"
INFO_FILE = "kcli_tokenizer.json"


@dataclass
class TokenizerTrainConfig:
    vocab_size: int = 32000  # upper bound; a small corpus stops earlier, when no pair repeats
    min_frequency: int = 2  # a merge must occur this often (1 on tiny corpora)
    include_english: bool = False  # also learn merges from the English side (mixed-script prompts)

    def __post_init__(self) -> None:
        if self.vocab_size < 514:
            raise ConfigError(f"vocab_size must be at least 514 (512 byte tokens + 2 special), got {self.vocab_size}")
        if self.min_frequency < 1:
            raise ConfigError(f"min_frequency must be at least 1, got {self.min_frequency}")


def byte_tokens() -> list[str]:
    """The 512 tokens every CLIP-style vocabulary needs: each byte character, then its word-final form."""
    chars = list(bytes_to_unicode().values())
    return [*chars, *(c + SUFFIX for c in chars)]


def clip_layout(merges: Iterable[tuple[str, str]]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """OpenAI's vocabulary layout for a list of merges: bytes, word-final bytes, merges, start, end."""
    vocab: dict[str, int] = {}
    for token in byte_tokens():
        vocab.setdefault(token, len(vocab))
    kept: list[tuple[str, str]] = []
    for left, right in merges:
        if left in vocab and right in vocab:  # a merge's parts always precede it in a trained list
            kept.append((left, right))
            vocab.setdefault(left + right, len(vocab))
    vocab[BOS_TOKEN] = len(vocab)
    vocab[EOS_TOKEN] = len(vocab)
    return vocab, kept


def _empty_clip_tokenizer() -> Any:
    transformers = require("transformers", "transformers")
    vocab, merges = clip_layout([])
    return transformers.CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=CLIP_CONTEXT_LENGTH)


def train_clip_bpe(texts: Iterable[str], config: TokenizerTrainConfig) -> Any:
    """Learn BPE merges on ``texts`` with CLIP's normaliser and pre-tokenizers; returns a ``CLIPTokenizer``."""
    tokenizers = require("tokenizers", "tokenizers")
    transformers = require("transformers", "transformers")
    backend = _empty_clip_tokenizer().backend_tokenizer
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        # The word-final byte forms are given ids up front: the trainer would otherwise create them while
        # iterating a hash map, and those ids break ties between equally frequent merges, so two runs
        # on the same text could learn different merges (huggingface/tokenizers#1794, #2066).
        special_tokens=[BOS_TOKEN, EOS_TOKEN, *(t for t in byte_tokens() if t.endswith(SUFFIX))],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix=SUFFIX,
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    learned = json.loads(backend.to_str())["model"]["merges"]
    room = config.vocab_size - 514
    vocab, merges = clip_layout(tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in learned[:room])
    return transformers.CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=CLIP_CONTEXT_LENGTH)


def load_tokenizer(spec: str | Path, subfolder: str = "tokenizer") -> Any:
    """A tokenizer folder, a model folder with a ``tokenizer/`` subfolder, or a Hub id (e.g. a Korean CLIP's)."""
    transformers = require("transformers", "transformers")
    from kdata.models.resolve import load_errors

    path = Path(str(spec)).expanduser()
    kwargs: dict[str, Any] = {}
    if path.is_dir() and (path / subfolder).is_dir():
        kwargs["subfolder"] = subfolder
    with load_errors(str(spec), "tokenizer"):
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(spec), **kwargs)
    if tokenizer.model_max_length > CLIP_CONTEXT_LENGTH:  # Hub CLIP tokenizers without a config say 1e30
        tokenizer.model_max_length = CLIP_CONTEXT_LENGTH
    return tokenizer


def save_tokenizer(tokenizer: Any, out: Path, info: dict[str, Any]) -> Path:
    """``save_pretrained`` plus the classic ``vocab.json`` + ``merges.txt`` (what older transformers' slow
    ``CLIPTokenizer`` and other CLIP tokenizers read) and ``kcli_tokenizer.json``, written last."""
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model.get("type") == "BPE":
        write_json_atomic(out / "vocab.json", model["vocab"])
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        write_text_atomic(out / "merges.txt", "#version: 0.2\n" + "".join(m + "\n" for m in merges))
    write_json_atomic(out / INFO_FILE, info)
    return out


def train_tokenizer(pairs: str | Path, out: str | Path, config: TokenizerTrainConfig | None = None,
                    validation_fraction: float = 0.1) -> dict[str, Any]:
    """Train on the training split of a parallel manifest (held-out text stays unseen) and save to ``out``."""
    from ktrain.encoder.data import load_parallel

    config = config or TokenizerTrainConfig()
    corpus = load_parallel(pairs, validation_fraction)
    texts = list(corpus.train.ko) + (list(corpus.train.en) if config.include_english else [])
    tokenizer = train_clip_bpe(texts, config)
    info = {"pairs": str(corpus.path), "fingerprint": corpus.fingerprint, "config": asdict(config),
            "texts": len(texts), "vocab_size": len(tokenizer), "merges": len(tokenizer) - 514}
    save_tokenizer(tokenizer, Path(out), info)
    return {"out": str(out), **info}
