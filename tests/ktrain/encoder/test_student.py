"""The student starts as the teacher with a Korean vocabulary whose embeddings come from the teacher's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ktrain.encoder.student import init_student_from_teacher, load_teacher_tokenizer, load_text_encoder
from ktrain.encoder.tokenizer import TokenizerTrainConfig, train_tokenizer


@pytest.fixture(scope="module")
def models(seed_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    from transformers import CLIPTokenizer

    out = tmp_path_factory.mktemp("tok") / "ko"
    train_tokenizer(seed_pairs, out, TokenizerTrainConfig(vocab_size=2000, min_frequency=1))
    teacher, teacher_tokenizer = load_text_encoder("tiny-sd"), load_teacher_tokenizer("tiny-sd")
    tokenizer = CLIPTokenizer.from_pretrained(out)
    return teacher, teacher_tokenizer, tokenizer, init_student_from_teacher(teacher, teacher_tokenizer, tokenizer)


def test_new_token_embedding_is_the_mean_of_the_teachers_pieces(models: tuple) -> None:
    teacher, teacher_tokenizer, tokenizer, student = models
    table, new = teacher.get_input_embeddings().weight, student.get_input_embeddings().weight
    assert new.shape == (len(tokenizer), 32)
    vocab, teacher_vocab = tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    # "있다</w>" (three + three UTF-8 bytes): the teacher's BPE splits it into pieces of its own vocabulary.
    pieces = [t.value for t in teacher_tokenizer.backend_tokenizer.model.tokenize("ìŀĪëĭ¤")]
    assert pieces[-1].endswith("</w>") and "ìŀĪëĭ¤</w>" not in teacher_vocab
    expected = table[[teacher_vocab[p] for p in pieces]].mean(0)
    assert torch.allclose(new[vocab["ìŀĪëĭ¤</w>"]], expected)
    # A token the teacher also has (a byte, a word-final byte, the specials) keeps the teacher's own vector.
    for token in ("a", "a</w>", "<|startoftext|>", "<|endoftext|>"):
        assert torch.equal(new[vocab[token]], table[teacher_vocab[token]])


def test_a_word_internal_token_uses_the_teachers_word_internal_pieces(models: tuple) -> None:
    teacher, teacher_tokenizer, tokenizer, student = models
    vocab, teacher_vocab = tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    internal = next(t for t in vocab if len(t) > 2 and not t.endswith("</w>") and t not in teacher_vocab
                    and not t.startswith("<|"))
    pieces = [t.value for t in teacher_tokenizer.backend_tokenizer.model.tokenize(internal)]
    last = pieces[-1][: -len("</w>")]
    ids = [teacher_vocab[p] for p in pieces[:-1]] + ([teacher_vocab[last]] if last in teacher_vocab
                                                     else [teacher_vocab[c] for c in last])
    table = teacher.get_input_embeddings().weight
    assert torch.allclose(student.get_input_embeddings().weight[vocab[internal]], table[ids].mean(0))


def test_everything_but_the_vocabulary_is_the_teachers(models: tuple) -> None:
    teacher, _, tokenizer, student = models
    assert student.config.vocab_size == len(tokenizer) and student.config.eos_token_id == tokenizer.eos_token_id
    theirs = {k: v for k, v in teacher.state_dict().items() if "token_embedding" not in k}
    ours = student.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in theirs.items())


def test_reading_text_that_both_vocabularies_spell_alike_gives_the_teachers_output(models: tuple) -> None:
    teacher, teacher_tokenizer, tokenizer, student = models
    text = "a a"  # the byte tokens "a</w>" exist in both vocabularies with the same embedding
    with torch.no_grad():
        ours = student(tokenizer(text, return_tensors="pt").input_ids).pooler_output
        theirs = teacher(teacher_tokenizer(text, return_tensors="pt").input_ids).pooler_output
    assert torch.allclose(ours, theirs, atol=1e-6)
