"""``generate`` with an SDXL base: both encoders and the pooled embedding, long prompts, SDXL LoRAs (diffusers
and kohya files from ``kcli train lora``), the Korean encoder pair, and the stages after the base."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from kdata.errors import ConfigError
from kdata.models import resolve_model
from ktrain.lora.generate import GenerateConfig, generate
from ktrain.lora.loading import LoraSpec, load_pipeline
from ktrain.lora.prompt_embeds import encode_pipeline_prompts
from tests.helpers.cli import kcli
from tests.ktrain.lora.helpers import tiny_config

PROMPT = "한복을 입은 여인"
# 31 words that are one CLIP token each: a prompt of n words is n tokens long for both tiny-sdxl tokenizers.
WORDS = ["red", "blue", "green", "yellow", "black", "white", "cat", "dog", "house", "tree", "river", "mountain", "sky",
         "sun", "moon", "star", "flower", "bird", "fish", "car", "road", "city", "night", "day", "rain", "snow", "wind",
         "fire", "water", "stone", "wood"]
LONG_KOREAN = ("서울의 한옥 마을에서 한복을 입은 여인이 전통 부채를 들고 서 있는 모습, 해질녘 부드러운 빛, "
               "수묵화 느낌의 배경과 단청 무늬가 어우러진 장면을 고해상도로 섬세하게 그린 그림")
SMALL = dict(base="tiny-sdxl", steps=2, height=64, width=64)


@pytest.fixture(scope="module")
def pipe() -> Any:
    pipe, _ = load_pipeline("tiny-sdxl", None, "cpu", torch.float32)
    return pipe


@pytest.fixture(scope="module")
def sdxl_lora(food_manifest: Any, lora_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two steps of ``train lora`` on tiny-sdxl, LoRA on the UNet and both text encoders: its output folder."""
    from ktrain.lora.loop import train_lora

    config = tiny_config(food_manifest, tmp_path_factory.mktemp("sdxl-lora") / "out", lora_cache, base="tiny-sdxl",
                         batch_size=4, max_steps=2, train_text_encoder=True, validation_prompts=[],
                         validation_images=0, checkpointing_steps=100)
    train_lora(config)
    return Path(config.out)


@pytest.fixture(scope="module")
def korean_pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-step SDXL Korean encoder pair (``kcli train encoder-sdxl``'s export) on a small Korean tokenizer."""
    from kdata.models.seed_corpus import seed_pairs
    from ktrain.encoder.sdxl_pair import SDXLPairConfig, train_sdxl_pair
    from ktrain.encoder.tokenizer import TokenizerTrainConfig, save_tokenizer, train_clip_bpe

    pairs = seed_pairs()
    tokenizer = train_clip_bpe([ko for _, ko in pairs], TokenizerTrainConfig(vocab_size=800, min_frequency=1))
    tokenizer_dir = save_tokenizer(tokenizer, tmp_path_factory.mktemp("ko-tokenizer"), {"source": "seed pairs"})
    config = SDXLPairConfig(base="tiny-sdxl", tokenizer=str(tokenizer_dir), steps=2, batch_size=4,
                            learning_rate=2e-3, out=str(tmp_path_factory.mktemp("pair") / "encoder"))
    train_sdxl_pair(config, [(ko, en) for en, ko in pairs[:4]])
    return Path(config.out)


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


def _sidecar(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def test_short_prompts_embed_exactly_as_the_sdxl_pipeline(pipe: Any) -> None:
    with torch.no_grad():
        for negative in (None, "흐릿한"):  # None: the pipeline's zeros (force_zeros_for_empty_prompt)
            expected = pipe.encode_prompt(PROMPT, do_classifier_free_guidance=True, negative_prompt=negative)
            kwargs = encode_pipeline_prompts(pipe, [PROMPT], negative, "cpu", guidance=True).pipeline_kwargs([0])
            names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                     "negative_pooled_prompt_embeds")
            for want, name in zip(expected, names):
                assert kwargs[name].shape == want.shape
                assert torch.equal(kwargs[name], want), name
    assert expected[1].abs().sum() != 0  # a given negative prompt is encoded, not zeroed


def test_a_long_prompt_is_chunked_for_both_encoders_pooled_from_the_first(pipe: Any) -> None:
    long = " ".join(WORDS[i % len(WORDS)] for i in range(100))
    first = " ".join(WORDS[i % len(WORDS)] for i in range(75))
    with torch.no_grad():
        text = encode_pipeline_prompts(pipe, [long], None, "cpu", guidance=False)
        states, _, pooled, _ = pipe.encode_prompt(first, do_classifier_free_guidance=False)
    assert text.embeds[0].shape == (1, 154, 64)  # two chunks of 77, 32 + 32 wide
    assert torch.allclose(text.embeds[0][:, :77], states, atol=1e-6)
    assert torch.allclose(text.pooled[0], pooled, atol=1e-6)
    assert not torch.allclose(text.embeds[0][:, 77:], states, atol=1e-3)  # the second chunk is read too


@pytest.mark.slow  # a kcli process of its own: 12-22 s at load 5-8
def test_generate_sdxl_cli_renders_and_records_what_sd1_records(tmp_path: Path) -> None:
    done = kcli("generate", PROMPT, "--base", "tiny-sdxl", "--out", str(tmp_path / "xl"), "--steps", "2",
                "--height", "64", "--width", "64", "--negative-prompt", "흐릿한", "--json",
                env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    images = sorted((tmp_path / "xl").glob("*.png"))
    assert [p.name for p in images] == ["00000-seed0.png"] and Image.open(images[0]).size == (64, 64)
    sdxl = _sidecar(str(images[0].with_suffix(".json")))
    sd1 = generate(GenerateConfig(prompts=[PROMPT], base="tiny-sd", out=str(tmp_path / "sd1"), steps=2,
                                  negative_prompt="흐릿한"))
    assert set(sdxl) == set(_sidecar(sd1[0].sidecar))
    assert set(sdxl["timings_s"]) == {"text_encode", "denoise", "decode", "batch_size"}
    assert (sdxl["base"]["id"], sdxl["negative_prompt"], sdxl["size"]) == ("tiny-sdxl", "흐릿한", [64, 64])
    assert sdxl["text_encoder"]["id"].endswith(":text_encoder+text_encoder_2")


def test_an_sdxl_lora_changes_the_image_and_its_kohya_and_diffusers_files_agree(sdxl_lora: Path,
                                                                                 tmp_path: Path) -> None:
    base = generate(GenerateConfig(prompts=[PROMPT], out=str(tmp_path / "base"), **SMALL))
    diffusers = generate(GenerateConfig(prompts=[PROMPT], out=str(tmp_path / "d"), loras=[LoraSpec(str(sdxl_lora))],
                                        **SMALL))
    kohya = generate(GenerateConfig(prompts=[PROMPT], out=str(tmp_path / "k"), **SMALL,
                                    loras=[LoraSpec(str(sdxl_lora / "lora.safetensors"))]))
    a, b, c = (_pixels(r[0].path) for r in (base, diffusers, kohya))
    assert np.abs(b - c).max() <= 1  # the same weights; PNG rounding may differ by one level
    assert np.abs(a - b).max() > 10  # the LoRA (UNet and both encoders) changes the image
    record = _sidecar(kohya[0].sidecar)["loras"]
    assert [(r["adapter"], r["weight"], len(r["fingerprint"])) for r in record] == [("lora0", 1.0, 64)]


def test_a_long_korean_prompt_renders_without_truncation_and_records_its_chunks(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        results = generate(GenerateConfig(prompts=[LONG_KOREAN], out=str(tmp_path / "long"), **SMALL))
    assert not [r for r in caplog.records if "truncat" in r.getMessage() or "cut" in r.getMessage()]
    tokens = _sidecar(results[0].sidecar)["prompt_tokens"]
    assert tokens["chunks"] == -(-tokens["tokens"] // 75) >= 2 and tokens["truncated"] is False
    short = generate(GenerateConfig(prompts=[LONG_KOREAN[:20]], out=str(tmp_path / "short"), **SMALL))
    assert np.abs(_pixels(results[0].path) - _pixels(short[0].path)).max() > 0


def test_the_korean_encoder_pair_drives_generation_as_an_unchanged_sdxl_pipeline(korean_pair: Path,
                                                                                  tmp_path: Path) -> None:
    from ktrain.encoder.export import load_pipeline as load_export_pipeline

    ours = generate(GenerateConfig(prompts=[PROMPT], out=str(tmp_path / "ko"), text_encoder=str(korean_pair),
                                   **SMALL))
    own = generate(GenerateConfig(prompts=[PROMPT], out=str(tmp_path / "own"), **SMALL))
    assert _sidecar(ours[0].sidecar)["text_encoder"]["id"] == str(korean_pair)
    assert np.abs(_pixels(ours[0].path) - _pixels(own[0].path)).max() > 0
    reference = load_export_pipeline("tiny-sdxl", korean_pair)
    reference.set_progress_bar_config(disable=True)
    image = reference(PROMPT, num_inference_steps=2, guidance_scale=7.5, height=64, width=64, output_type="pil",
                      generator=torch.Generator().manual_seed(0)).images[0]
    assert np.abs(np.asarray(image, dtype=np.int16) - _pixels(ours[0].path)).max() <= 1


def test_a_single_encoder_folder_is_refused_for_an_sdxl_base(tmp_path: Path) -> None:
    folder = tmp_path / "enc"
    (folder / "text_encoder").mkdir(parents=True)
    with pytest.raises(ConfigError, match="needs an encoder pair folder .* missing tokenizer/, text_encoder_2/"):
        generate(GenerateConfig(prompts=[PROMPT], out=str(tmp_path / "o"), text_encoder=str(folder), **SMALL))


def test_the_refiner_follows_an_sdxl_base_and_the_latent_upscaler_is_refused(tmp_path: Path) -> None:
    from ktrain.t2i.stages import PostStages, StagesConfig

    refined = generate(GenerateConfig(prompts=[PROMPT], out=str(tmp_path / "r"), **SMALL),
                       finish=PostStages(StagesConfig(refiner="tiny-sdxl-refiner", refiner_steps=2), 2))
    sidecar = _sidecar(refined[0].sidecar)
    assert sidecar["stages"]["refiner"] == "tiny-sdxl-refiner" and sidecar["timings_s"]["refine"] > 0
    assert Image.open(refined[0].path).size == (64, 64)
    with pytest.raises(ConfigError, match="^--upscaler tiny-latent-upscaler: the x2 latent upscaler reads SD 1.x"):
        generate(GenerateConfig(prompts=[PROMPT], out=str(tmp_path / "u"), **SMALL),
                 finish=PostStages(StagesConfig(upscaler="tiny-latent-upscaler")))
    assert not (tmp_path / "u").exists()  # refused before any image
    assert resolve_model("tiny-sdxl")  # the preset stays buildable offline


@pytest.mark.slow  # two training runs: 14 s at load 4
def test_train_lora_takes_an_encoder_pair_as_its_sdxl_text_encoders(food_manifest: Any, tmp_path: Path) -> None:
    """tiny-sdxl's own encoders saved as a pair folder: one training step gives the base's own loss exactly."""
    import shutil

    from ktrain.lora.loop import train_lora

    base, pair = Path(resolve_model("tiny-sdxl")), tmp_path / "pair"
    for name in ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"):
        shutil.copytree(base / name, pair / name)
    options = dict(base="tiny-sdxl", batch_size=4, max_steps=1, validation_prompts=[], validation_images=0,
                   cache_latents=False, cache_text=False)
    own = train_lora(tiny_config(food_manifest, tmp_path / "own", tmp_path / "cache", **options))
    paired = train_lora(tiny_config(food_manifest, tmp_path / "paired", tmp_path / "cache", text_encoder=str(pair),
                                    **options))
    assert paired.losses == own.losses and np.isfinite(own.losses).all()
    recorded = json.loads((tmp_path / "paired" / "kcli_config.json").read_text(encoding="utf-8"))
    assert str(pair) in json.dumps(recorded)
