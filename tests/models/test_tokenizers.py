"""Tokenizers of the tiny presets: the real CLIP BPE (transformers and open_clip agree with each other and
with OpenAI's ids), and byte fallback, so Hangul never becomes an unknown token."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kdata.models import ensure_preset, load_open_clip
from kdata.models.clip_tokenizer import (
    BOS_TOKEN_ID,
    CLIP_VOCAB_SIZE,
    EOS_TOKEN_ID,
    bytes_to_unicode,
    clip_vocab_and_merges,
)
from tests.models.samples import HANGUL_SENTENCE

if TYPE_CHECKING:
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import PreTrainedTokenizerBase

# Lossless for CLIP's normaliser: lower case, single spaces, no punctuation that the pre-tokenizer
# splits off (it would come back space-separated).
ROUND_TRIP_TEXTS = [
    HANGUL_SENTENCE,
    "a photo of a cat",
    "서울 야경 night view of seoul",
    "뷁 똠방각하 얽힌 흙",  # rare syllables: not merged in CLIP's BPE, so they go through byte tokens
    "한글 😀 emoji",
]
# Not lossless (digits and punctuation come back space-separated) but tokenized the same way by both.
# Half-width kana would differ: open_clip runs ftfy.fix_text (as OpenAI's CLIP does) and HF does not.
MIXED_TEXTS = [*ROUND_TRIP_TEXTS, "Hello, World! 한복(韓服)을 입은 사람들...", "2024년 ÀÉÎ ß straße"]


@pytest.fixture(scope="module")
def hf_clip_tokenizer() -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ensure_preset("tiny-clip"))


@pytest.fixture(scope="module")
def open_clip_tokenizer() -> SimpleTokenizer:
    _, _, tokenizer = load_open_clip("tiny-open-clip")
    return tokenizer


def test_clip_vocabulary_is_openai_layout() -> None:
    vocab, merges = clip_vocab_and_merges()
    assert len(vocab) == CLIP_VOCAB_SIZE and len(merges) == 48894
    byte_chars = list(bytes_to_unicode().values())
    assert len(set(byte_chars)) == 256
    # Every byte has a word-final form: without it an unseen final character would become <unk>.
    assert all(vocab[c] == i and vocab[c + "</w>"] == 256 + i for i, c in enumerate(byte_chars))
    assert vocab["<|startoftext|>"] == BOS_TOKEN_ID == 49406
    assert vocab["<|endoftext|>"] == EOS_TOKEN_ID == 49407


@pytest.mark.parametrize("source", ["tiny-clip", "tiny-sd/tokenizer", "vocab.json+merges.txt"])
def test_hf_clip_tokenizer_matches_openai_ids(source: str, tmp_path: Path) -> None:
    from transformers import AutoTokenizer, CLIPTokenizer

    if source == "vocab.json+merges.txt":  # the two classic files alone must rebuild the same tokenizer
        for name in ("vocab.json", "merges.txt"):
            shutil.copy(ensure_preset("tiny-clip") / name, tmp_path / name)
        tokenizer = CLIPTokenizer.from_pretrained(tmp_path)
    else:
        preset, _, subfolder = source.partition("/")
        tokenizer = AutoTokenizer.from_pretrained(ensure_preset(preset) / subfolder)
        assert tokenizer.model_max_length == 77  # from tokenizer_config.json, which the bare files lack
    assert len(tokenizer) == CLIP_VOCAB_SIZE
    # openai/clip-vit-base-patch32 tokenizes this prompt to exactly these ids.
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_hf_clip_tokenizer_hangul_has_no_unknown_and_round_trips(
    text: str, hf_clip_tokenizer: PreTrainedTokenizerBase
) -> None:
    tokenizer = hf_clip_tokenizer
    ids = tokenizer(text).input_ids
    assert ids[0] == BOS_TOKEN_ID and ids[-1] == EOS_TOKEN_ID
    # CLIP's unknown token is <|endoftext|>: it must appear nowhere but at the end.
    assert tokenizer.unk_token_id == EOS_TOKEN_ID
    assert all(token_id < BOS_TOKEN_ID for token_id in ids[1:-1])
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_open_clip_and_hf_clip_tokenizers_agree(
    text: str, hf_clip_tokenizer: PreTrainedTokenizerBase, open_clip_tokenizer: SimpleTokenizer
) -> None:
    hf_ids = hf_clip_tokenizer(text).input_ids
    open_clip_ids = open_clip_tokenizer([text])[0].tolist()
    assert open_clip_ids[: len(hf_ids)] == hf_ids
    assert set(open_clip_ids[len(hf_ids) :]) <= {0}  # open_clip pads with 0 after end-of-text


def test_open_clip_tokenizer_round_trips_hangul(open_clip_tokenizer: SimpleTokenizer) -> None:
    tokenizer = open_clip_tokenizer
    ids = [i for i in tokenizer([HANGUL_SENTENCE])[0].tolist() if i not in (0, BOS_TOKEN_ID, EOS_TOKEN_ID)]
    assert tokenizer.decode(ids).strip() == HANGUL_SENTENCE


@pytest.mark.parametrize("text", [HANGUL_SENTENCE, "짧은 글", "가" * 200])
def test_open_clip_argmax_pooling_lands_on_end_of_text(text: str, open_clip_tokenizer: SimpleTokenizer) -> None:
    """open_clip pools text features at argmax(token id): right only if end-of-text is the largest id."""
    tokens = open_clip_tokenizer([text])
    end_of_text = (tokens == EOS_TOKEN_ID).int().argmax(dim=-1)
    assert tokens.shape == (1, 77)
    assert tokens.argmax(dim=-1).tolist() == end_of_text.tolist()
    assert tokens[0, end_of_text[0]].item() == EOS_TOKEN_ID  # present even when the text is truncated


@pytest.mark.parametrize("name", ["tiny-translator-en-ko", "tiny-translator-ko-en"])
@pytest.mark.parametrize("text", [*ROUND_TRIP_TEXTS, "Hello, World! 한복(韓服)을 입은 사람들..."])
def test_translator_tokenizer_never_unknown_and_lossless(name: str, text: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ensure_preset(name))
    ids = tokenizer(text).input_ids
    source_lang = name.split("-")[2]
    assert ids[0] == tokenizer.get_lang_id(source_lang) and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_translator_tokenizer_uses_byte_fallback_for_unseen_syllables() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ensure_preset("tiny-translator-ko-en"))
    pieces = tokenizer.tokenize("뷁")  # a syllable the seed corpus never uses
    assert pieces[-3:] == ["<0xEB>", "<0xB7>", "<0x81>"]  # its three UTF-8 bytes


def test_captioner_tokenizer_covers_english_without_unknown() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ensure_preset("tiny-captioner"))
    ids = tokenizer("A zebra, 3 giraffes & an xylophone!").input_ids
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a zebra, 3 giraffes & an xylophone!"
