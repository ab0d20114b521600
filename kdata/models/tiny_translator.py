"""`tiny-translator-en-ko` / `tiny-translator-ko-en`: M2M100 seq2seq models with random weights.

Same classes, files and calls as facebook/m2m100_418M (`AutoModelForSeq2SeqLM`, `AutoTokenizer`, language
codes `__en__` / `__ko__`, the target language forced as the first generated token). The tokenizer is a
sentencepiece BPE trained here on the built-in seed captions with `byte_fallback=True`: a Korean (or any)
character it never saw becomes its UTF-8 byte pieces, so no input ever maps to `<unk>`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.seed_corpus import seed_pairs

SEED = 0
# fairseq's dictionary order, which M2M100's vocab.json follows; sentencepiece's own controls map onto it.
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
BOS_ID, PAD_ID, EOS_ID, UNK_ID = range(len(FAIRSEQ_SPECIALS))
SPM_VOCAB_SIZE = 1000
SPM_FILE = "sentencepiece.bpe.model"
MAX_POSITIONS = 128


def train_sentencepiece() -> bytes:
    """A BPE sentencepiece model over both sides of the seed corpus, returned as the model file's bytes."""
    spm = require("sentencepiece", "sentencepiece")
    sentences = [text for pair in seed_pairs() for text in pair]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="bpe",
        vocab_size=SPM_VOCAB_SIZE,
        # The corpus is far smaller than the requested size; take what it yields instead of failing.
        hard_vocab_limit=False,
        character_coverage=1.0,
        byte_fallback=True,
        # One thread and no sampling keep the trained model identical from build to build.
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    return model.getvalue()


def fairseq_vocab(spm_model: bytes) -> dict[str, int]:
    """vocab.json: fairseq's four specials, then every sentencepiece piece (byte pieces included)."""
    spm = require("sentencepiece", "sentencepiece")
    processor = spm.SentencePieceProcessor(model_proto=spm_model)
    vocab = {token: index for index, token in enumerate(FAIRSEQ_SPECIALS)}
    for piece_id in range(processor.get_piece_size()):
        piece = processor.id_to_piece(piece_id)
        if piece not in vocab and not processor.is_control(piece_id) and not processor.is_unknown(piece_id):
            vocab[piece] = len(vocab)
    return vocab


def _language_tokens() -> list[str]:
    m2m_100 = require("transformers.models.m2m_100.tokenization_m2m_100", "transformers")
    return [f"__{code}__" for code in m2m_100.FAIRSEQ_LANGUAGE_CODES["m2m100"]]


def _m2m100_config(transformers: Any, vocab_size: int) -> Any:
    return transformers.M2M100Config(
        vocab_size=vocab_size,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=BOS_ID,
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=EOS_ID,
    )


def build_tiny_translator(out_dir: Path, source_lang: str, target_lang: str) -> None:
    """Save tokenizer files, then a model whose generation config forces `__<target_lang>__` first."""
    transformers = require("transformers", "transformers")
    spm_model = train_sentencepiece()
    (out_dir / SPM_FILE).write_bytes(spm_model)
    vocab_file = out_dir / "vocab.json"
    vocab_file.write_text(json.dumps(fairseq_vocab(spm_model), ensure_ascii=False, indent=1), encoding="utf-8")
    tokenizer = transformers.M2M100Tokenizer(
        vocab_file=str(vocab_file),
        spm_file=str(out_dir / SPM_FILE),
        src_lang=source_lang,
        tgt_lang=target_lang,
        model_max_length=MAX_POSITIONS,
        # Listed explicitly, as facebook/m2m100's tokenizer_config.json does: M2M100Tokenizer's own
        # default leaves the `__xx__` codes out of the special tokens (a chained `not in` in its
        # __init__), and decode(skip_special_tokens=True) would then keep "__ko__" in the text.
        additional_special_tokens=_language_tokens(),
    )
    tokenizer.save_pretrained(out_dir)
    # fairseq's M2M100 sizes its embeddings as vocabulary + language codes + a few "madeup" words.
    vocab_size = len(tokenizer) + tokenizer.num_madeup_words
    with seeded_torch(SEED):
        model = transformers.M2M100ForConditionalGeneration(_m2m100_config(transformers, vocab_size))
    # Stored in generation_config.json, so a plain `model.generate(**inputs)` already targets the right
    # language, as facebook/m2m100 callers do by passing forced_bos_token_id themselves.
    model.generation_config.forced_bos_token_id = tokenizer.get_lang_id(target_lang)
    model.generation_config.max_new_tokens = 32
    model.save_pretrained(out_dir)
