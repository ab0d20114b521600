"""``kcli tokenizer train``: a CLIP-format Korean BPE that transformers loads and that never loses a character."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdata.models.clip_tokenizer import bytes_to_unicode
from ktrain.encoder.tokenizer import TokenizerTrainConfig, clip_layout, train_tokenizer

TEXTS = ["한복을 입은 여인이 한옥 마당에 서 있다", "뷁 똠방각하", "서울 야경 night view 😀"]


@pytest.fixture(scope="module")
def tokenizer_dir(seed_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "ko"
    train_tokenizer(seed_pairs, out, TokenizerTrainConfig(vocab_size=2000, min_frequency=1))
    return out


def test_layout_is_openais_bytes_then_word_final_bytes_then_merges_then_specials() -> None:
    vocab, merges = clip_layout([("ì", "ŀ"), ("ìŀ", "Ī</w>"), ("x", "unknown-part")])
    chars = list(bytes_to_unicode().values())
    assert [vocab[c] for c in chars] == list(range(256))
    assert [vocab[c + "</w>"] for c in chars] == list(range(256, 512))
    assert merges == [("ì", "ŀ"), ("ìŀ", "Ī</w>")]  # a merge whose part is not in the vocabulary is dropped
    assert vocab["ìŀ"] == 512 and vocab["ìŀĪ</w>"] == 513
    assert vocab["<|startoftext|>"] == 514 and vocab["<|endoftext|>"] == 515 == len(vocab) - 1


@pytest.mark.parametrize("loader", ["CLIPTokenizer", "CLIPTokenizerFast", "AutoTokenizer"])
def test_trained_tokenizer_loads_with_transformers_in_clip_format(tokenizer_dir: Path, loader: str) -> None:
    import transformers

    tokenizer = getattr(transformers, loader).from_pretrained(tokenizer_dir)
    assert tokenizer.model_max_length == 77
    assert tokenizer.bos_token == "<|startoftext|>" and tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.eos_token_id == len(tokenizer) - 1 and tokenizer.bos_token_id == len(tokenizer) - 2
    ids = tokenizer(TEXTS[0], padding="max_length", max_length=77).input_ids
    assert len(ids) == 77 and ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id  # pads with end


@pytest.mark.parametrize("text", TEXTS)
def test_korean_merges_are_learned_and_no_character_is_lost(tokenizer_dir: Path, text: str) -> None:
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    ids = tokenizer(text).input_ids
    assert tokenizer.eos_token_id not in ids[1:-1]  # CLIP's unknown token is end-of-text: never inside
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_training_learns_frequent_korean_words_and_records_how(tokenizer_dir: Path, seed_pairs: Path) -> None:
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    assert tokenizer.tokenize("있다") == ["ìŀĪëĭ¤</w>"]  # "is": the commonest word of the seed captions
    assert len(tokenizer.tokenize("뷁")) == 3  # unseen: its three UTF-8 bytes
    info = json.loads((tokenizer_dir / "kcli_tokenizer.json").read_text())
    assert info["texts"] == 40 and info["vocab_size"] == len(tokenizer) and info["pairs"] == str(seed_pairs)


def test_classic_vocab_and_merges_files_alone_rebuild_the_same_tokenizer(tokenizer_dir: Path, tmp_path: Path) -> None:
    import shutil

    from transformers import CLIPTokenizer

    for name in ("vocab.json", "merges.txt"):
        shutil.copy(tokenizer_dir / name, tmp_path / name)
    classic, full = CLIPTokenizer.from_pretrained(tmp_path), CLIPTokenizer.from_pretrained(tokenizer_dir)
    assert classic(TEXTS).input_ids == full(TEXTS).input_ids


def test_training_twice_gives_the_same_tokenizer(seed_pairs: Path) -> None:
    from ktrain.encoder.data import load_parallel
    from ktrain.encoder.tokenizer import train_clip_bpe

    texts = load_parallel(seed_pairs).train.ko
    config = TokenizerTrainConfig(vocab_size=2000, min_frequency=1)
    runs = [train_clip_bpe(texts, config).get_vocab() for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]  # ties between equally frequent merges are broken the same way


def test_vocab_size_caps_the_merges(seed_pairs: Path, tmp_path: Path) -> None:
    result = train_tokenizer(seed_pairs, tmp_path / "small", TokenizerTrainConfig(vocab_size=600, min_frequency=1))
    assert result["vocab_size"] == 600 and result["merges"] == 86


def test_config_rejects_a_vocabulary_too_small_for_the_bytes() -> None:
    from kdata.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 514"):
        TokenizerTrainConfig(vocab_size=300)
