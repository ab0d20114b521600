"""Prompts past CLIP's 75 tokens: encoded in chunks (A1111/compel), counted, and never batch-dependent."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from ktrain.lora.generate import GenerateConfig, generate
from ktrain.lora.prompt_embeds import TokenCount, count_tokens, encode_prompts, prompt_chunks

# 31 words that are one CLIP token each, so a prompt of n words is n tokens long.
WORDS = ["red", "blue", "green", "yellow", "black", "white", "cat", "dog", "house", "tree", "river", "mountain", "sky",
         "sun", "moon", "star", "flower", "bird", "fish", "car", "road", "city", "night", "day", "rain", "snow", "wind",
         "fire", "water", "stone", "wood"]
LONG = " ".join(WORDS[i % len(WORDS)] for i in range(100))
FIRST_75 = " ".join(WORDS[i % len(WORDS)] for i in range(75))
KOREAN = ("서울의 한옥 마을에서 한복을 입은 여인이 전통 부채를 들고 서 있는 모습, 해질녘 부드러운 빛, 수묵화 느낌의 "
          "배경과 단청 무늬가 어우러진 장면을 고해상도로 섬세하게 그린 그림")


@pytest.fixture(scope="module")
def pipe() -> Any:
    from ktrain.lora.loading import load_pipeline

    pipe, _ = load_pipeline("tiny-sd", None, "cpu", torch.float32)
    return pipe


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


def test_token_counts_say_how_the_encoder_reads_a_prompt(pipe: Any) -> None:
    tokenizer = pipe.tokenizer
    assert count_tokens(tokenizer, LONG) == TokenCount(tokens=100, per_chunk=75, chunks=2, truncated=False)
    assert count_tokens(tokenizer, FIRST_75) == TokenCount(75, 75, 1, False)
    assert count_tokens(tokenizer, "") == TokenCount(0, 75, 1, False)
    korean = count_tokens(tokenizer, KOREAN)  # 98 characters of Korean: about 1.5 CLIP tokens each
    assert (len(KOREAN), korean.tokens, korean.chunks) == (98, 151, 3)
    assert korean.to_dict() == {"tokens": 151, "per_chunk": 75, "chunks": 3, "truncated": False}


def test_prompts_of_75_tokens_or_less_embed_as_the_plain_pipeline(pipe: Any) -> None:
    prompts = ["한복을 입은 여인", FIRST_75]
    with torch.inference_mode():
        text = encode_prompts(pipe.tokenizer, pipe.text_encoder, prompts, "흐릿한", "cpu", guidance=True)
        plain, plain_negative = pipe.encode_prompt(prompts, "cpu", 1, True, negative_prompt=["흐릿한"] * 2)
    assert text.groups() == [[0, 1]]
    embeds, negative = text.stacked([0, 1])
    assert embeds.shape == plain.shape == (2, 77, 32)
    torch.testing.assert_close(embeds, plain, rtol=0, atol=1e-6)
    torch.testing.assert_close(negative, plain_negative, rtol=0, atol=1e-6)
    ids = pipe.tokenizer(FIRST_75, padding="max_length", max_length=77, truncation=True).input_ids
    assert prompt_chunks(pipe.tokenizer, FIRST_75) == [(list(ids), 77)]


def test_a_long_prompt_is_encoded_in_chunks(pipe: Any) -> None:
    with torch.inference_mode():
        text = encode_prompts(pipe.tokenizer, pipe.text_encoder, [LONG, "cat"], "", "cpu", guidance=True)
        cut, _ = pipe.encode_prompt([LONG], "cpu", 1, False)  # diffusers' own path cuts after 75 tokens
    assert text.groups() == [[0], [1]]  # different lengths: denoised apart, "cat" is not padded for LONG
    long_embeds, long_negative = text.stacked([0])
    assert long_embeds.shape == long_negative.shape == (1, 154, 32)
    assert text.embeds[1].shape == (1, 77, 32)
    torch.testing.assert_close(long_embeds[:, :77], cut, rtol=0, atol=1e-6)  # the first chunk is the cut prompt
    assert not torch.allclose(long_embeds[:, 77:], long_negative[:, 77:])  # the rest is read, not dropped
    torch.testing.assert_close(long_negative[:, :77], long_negative[:, 77:])  # negative padded with empty chunks
    chunks = prompt_chunks(pipe.tokenizer, LONG)
    assert [n for _, n in chunks] == [77, 27] and chunks[1][0][:2] == [49406, pipe.tokenizer.convert_tokens_to_ids(
        WORDS[75 % len(WORDS)] + "</w>")]


def test_long_prompt_images_use_every_chunk_whatever_the_batch(tmp_path: Path) -> None:
    settings: dict[str, Any] = {"base": "tiny-sd", "steps": 2, "negative_prompt": "흐릿한"}
    batch = generate(GenerateConfig(prompts=[FIRST_75, LONG], seed=5, batch_size=2, out=str(tmp_path / "b"),
                                    **settings))
    long_alone = generate(GenerateConfig(prompts=[LONG], seed=6, out=str(tmp_path / "long"), **settings))
    cut_alone = generate(GenerateConfig(prompts=[FIRST_75], seed=6, out=str(tmp_path / "cut"), **settings))
    np.testing.assert_array_equal(_pixels(batch[1].path), _pixels(long_alone[0].path))
    assert np.abs(_pixels(long_alone[0].path) - _pixels(cut_alone[0].path)).max() > 0
    sidecar = json.loads(Path(long_alone[0].sidecar).read_text(encoding="utf-8"))
    assert sidecar["prompt_tokens"] == {"tokens": 100, "per_chunk": 75, "chunks": 2, "truncated": False}


class WithoutStartToken:
    """A tokenizer that cannot be chunked: no start-of-text token to open a chunk with."""

    bos_token_id = None

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.eos_token_id, self.pad_token_id = inner.eos_token_id, inner.pad_token_id
        self.model_max_length = inner.model_max_length

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner(*args, **kwargs)


def test_a_tokenizer_that_cannot_chunk_cuts_with_a_warning(pipe: Any, caplog: pytest.LogCaptureFixture) -> None:
    tokenizer = WithoutStartToken(pipe.tokenizer)
    assert count_tokens(tokenizer, LONG) == TokenCount(100, 75, 1, True)
    with caplog.at_level(logging.WARNING, logger="ktrain.lora.prompt_embeds"):
        chunks = prompt_chunks(tokenizer, LONG)
    ids = pipe.tokenizer(LONG, padding="max_length", max_length=77, truncation=True).input_ids
    assert chunks == [(list(ids), 77)]
    assert "prompt of 100 tokens cut to the text encoder's 77" in caplog.text
