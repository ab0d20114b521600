"""`tiny-captioner`: a BLIP image-captioning model with random weights and an offline WordPiece vocabulary.

BLIP is the captioner family transformers 5 still serves through `pipeline("image-to-text")` (now an alias
of "image-text-to-text") as well as `BlipForConditionalGeneration.generate`. The vocabulary is built here:
BERT's special tokens, BLIP's `[DEC]` start-of-caption token, printable ASCII characters with their `##`
continuations (so any English word tokenizes without `[UNK]`), then the seed corpus's words.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.seed_corpus import english_words

SEED = 0
IMAGE_SIZE = 32
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID, DEC_ID = range(len(SPECIAL_TOKENS))
# Random weights would often stop at once or emit only special tokens, and skip_special_tokens would then
# give an empty caption. A large negative output bias on every special token (end-of-caption included)
# makes each caption a run of real words up to the length limit, which is what stage tests need.
SPECIAL_LOGIT_BIAS = -1.0e4


def build_vocab() -> dict[str, int]:
    """Specials, then single characters and their `##` forms, then whole words; ids in that order."""
    chars = string.ascii_lowercase + string.digits + string.punctuation
    tokens = [*SPECIAL_TOKENS, *chars, *("##" + c for c in chars)]
    tokens += [word for word in english_words() if word not in tokens]
    return {token: index for index, token in enumerate(tokens)}


def _blip_config(transformers: Any, vocab_size: int) -> Any:
    width = 32
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": width,
        "encoder_hidden_size": width,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 64,
        "bos_token_id": DEC_ID,
        "sep_token_id": SEP_ID,
        "eos_token_id": SEP_ID,
        "pad_token_id": PAD_ID,
    }
    vision_config = {
        "hidden_size": width,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": IMAGE_SIZE,
        "patch_size": 8,
    }
    return transformers.BlipConfig(text_config=text_config, vision_config=vision_config, projection_dim=width)


def _bias_away_from_specials(model: Any) -> None:
    torch = require("torch", "torch")
    head = model.text_decoder.cls.predictions.decoder
    with torch.no_grad():
        head.bias[list(range(len(SPECIAL_TOKENS)))] = SPECIAL_LOGIT_BIAS


def build_tiny_captioner(out_dir: Path) -> None:
    """Save BlipForConditionalGeneration weights, a BertTokenizer and a BlipImageProcessor in `out_dir`."""
    transformers = require("transformers", "transformers")
    vocab = build_vocab()
    with seeded_torch(SEED):
        model = transformers.BlipForConditionalGeneration(_blip_config(transformers, len(vocab)))
    _bias_away_from_specials(model)
    model.save_pretrained(out_dir)
    tokenizer = transformers.BertTokenizer(vocab=vocab, bos_token="[DEC]", model_max_length=64)
    image_processor = transformers.BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    transformers.BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out_dir)
