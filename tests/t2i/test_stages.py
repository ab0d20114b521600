"""The stages after the base: the tiny refiner and upscaler presets load through diffusers' own classes, and
``kcli generate --refiner/--upscaler`` writes images of the right size with every stage timed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import kcli

ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def test_refiner_preset_has_the_sdxl_refiner_layout() -> None:
    from diffusers import StableDiffusionXLImg2ImgPipeline

    from kdata.models.presets import ensure_preset

    folder = ensure_preset("tiny-sdxl-refiner")
    index = json.loads((folder / "model_index.json").read_text())
    assert index["text_encoder"] == [None, None] and index["tokenizer"] == [None, None]
    assert index["text_encoder_2"] == ["transformers", "CLIPTextModelWithProjection"]
    assert (index["requires_aesthetics_score"], index["force_zeros_for_empty_prompt"]) == (True, False)
    pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(folder)
    unet = pipe.unet.config
    assert unet.addition_embed_type == "text_time"
    # 5 micro-conditions (size, crop, aesthetic score) x 8 + the pooled 32-wide text embedding
    assert unet.projection_class_embeddings_input_dim == 5 * 8 + 32 == unet.cross_attention_dim + 40
    assert pipe.vae.config.scaling_factor == 0.13025


def test_upscaler_preset_has_the_latent_upscaler_layout_and_shares_tiny_sd_vae() -> None:
    import torch
    from diffusers import AutoencoderKL, StableDiffusionLatentUpscalePipeline

    from kdata.models.presets import ensure_preset

    pipe = StableDiffusionLatentUpscalePipeline.from_pretrained(ensure_preset("tiny-latent-upscaler"))
    unet = pipe.unet.config
    assert (unet.in_channels, unet.out_channels, unet.time_embedding_type) == (8, 5, "fourier")
    assert unet.time_cond_proj_dim == 128 + pipe.text_encoder.config.hidden_size
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert pipe.scheduler.config.prediction_type == "sample"
    sd_vae = AutoencoderKL.from_pretrained(ensure_preset("tiny-sd") / "vae")
    assert all(torch.equal(a, b) for a, b in zip(sd_vae.state_dict().values(), pipe.vae.state_dict().values()))


@pytest.mark.parametrize(("prompt", "expected"), [
    ("한옥 마당의 매화", "high quality, detailed, sharp focus"),
    ("a hanok courtyard", "a hanok courtyard, high quality, detailed, sharp focus"),
    ("hanok 한옥", "high quality, detailed, sharp focus"),
])
def test_the_refiner_never_reads_korean(prompt: str, expected: str) -> None:
    from ktrain.t2i.stages import DEFAULT_REFINE_PROMPT, refiner_prompt

    assert refiner_prompt(prompt, DEFAULT_REFINE_PROMPT) == expected


def test_refine_steps_always_run_at_least_one_img2img_step() -> None:
    from ktrain.t2i.stages import refine_steps

    assert [refine_steps(2, 0.3), refine_steps(30, 0.3), refine_steps(1, 1.0)] == [4, 30, 1]


def test_cli_defaults_are_the_library_defaults() -> None:
    from kcli.option_groups import PostStageFlags
    from ktrain.t2i.stages import StagesConfig

    assert PostStageFlags().config() == StagesConfig()


@pytest.mark.slow
def test_generate_with_refiner_and_upscaler_times_every_stage(tmp_path: Path) -> None:
    done = kcli("generate", "한옥 마당의 매화", "a hanok courtyard", "--base", "tiny-sd", "--out", str(tmp_path),
                "--steps", "2", "--batch-size", "2", "--refiner", "tiny-sdxl-refiner", "--upscaler",
                "tiny-latent-upscaler", "--upscaler-steps", "2", "--refiner-strength", "0.5", "--json",
                env=ONE_THREAD)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout)
    assert [r["seed"] for r in rows] == [0, 1]
    for row in rows:
        assert list(row["timings_s"]) == ["text_encode", "denoise", "upscale", "decode", "refine"]
        assert all(seconds > 0 for seconds in row["timings_s"].values())
        sidecar = json.loads(Path(row["sidecar"]).read_text())
        assert sidecar["size"] == [128, 128]  # 64 px base, x2 upscaled, refined at that size
        assert sidecar["stages"]["refiner"] == "tiny-sdxl-refiner"
        assert sidecar["stages"]["refine_prompt"] == "high quality, detailed, sharp focus"
        assert set(sidecar["timings_s"]) == {"text_encode", "denoise", "upscale", "decode", "refine", "batch_size"}
    from PIL import Image

    assert Image.open(rows[0]["image"]).size == (128, 128)


@pytest.mark.slow
def test_generate_with_refiner_only_keeps_the_base_size_and_differs_from_no_refiner(tmp_path: Path) -> None:
    common = ("generate", "a hanok courtyard", "--base", "tiny-sd", "--steps", "2", "--json")
    plain = kcli(*common, "--out", str(tmp_path / "plain"), env=ONE_THREAD)
    refined = kcli(*common, "--out", str(tmp_path / "refined"), "--refiner", "tiny-sdxl-refiner", env=ONE_THREAD)
    assert plain.returncode == 0 and refined.returncode == 0, refined.stderr[-3000:]
    plain_row, refined_row = json.loads(plain.stdout)[0], json.loads(refined.stdout)[0]
    assert list(plain_row["timings_s"]) == ["text_encode", "denoise", "decode"]
    assert list(refined_row["timings_s"]) == ["text_encode", "denoise", "decode", "refine"]
    from PIL import Image

    with Image.open(plain_row["image"]) as a, Image.open(refined_row["image"]) as b:
        assert a.size == b.size == (64, 64)
        assert a.tobytes() != b.tobytes()


def test_generate_with_an_unknown_refiner_fails_in_one_line(tmp_path: Path) -> None:
    done = kcli("generate", "a cat", "--base", "tiny-sd", "--out", str(tmp_path), "--steps", "1", "--refiner",
                str(tmp_path / "nope"), env=ONE_THREAD)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"error: --refiner {tmp_path / 'nope'}: no such local file or folder; give --refiner a diffusers folder, a "
        "Hub id that is cached or reachable (stabilityai/stable-diffusion-xl-refiner-1.0) or tiny-sdxl-refiner"]
    assert not any(tmp_path.glob("*.png"))


def test_generate_refuses_a_preset_of_another_kind_as_upscaler(tmp_path: Path) -> None:
    done = kcli("generate", "a cat", "--base", "tiny-sd", "--out", str(tmp_path), "--upscaler", "tiny-sdxl-refiner")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --upscaler tiny-sdxl-refiner: preset 'tiny-sdxl-refiner' is a sdxl-refiner model, not a latent "
        "upscaler (presets that fit: tiny-latent-upscaler); give --upscaler a diffusers folder, a Hub id that is "
        "cached or reachable (stabilityai/sd-x2-latent-upscaler) or tiny-latent-upscaler"]


@pytest.mark.slow
def test_eval_t2i_with_refiner_and_upscaler_times_both_stages_in_every_pipeline(tmp_path: Path) -> None:
    import csv

    from PIL import Image

    from ktrain.t2i.evaluate import T2IEvalConfig, evaluate_t2i
    from ktrain.t2i.stages import StagesConfig
    from tests.t2i.tiny import write_prompts

    stages = StagesConfig(refiner="tiny-sdxl-refiner", upscaler="tiny-latent-upscaler", upscaler_steps=1)
    config = T2IEvalConfig(base="tiny-sd", out=str(tmp_path / "eval"), pipelines=["ko-encoder", "translate"],
                           prompts=str(write_prompts(tmp_path / "p.jsonl")), translator="tiny-translator-ko-en",
                           english_clip="none", korean_clip="tiny-clip", limit=1, steps=2, warmup=0, stages=stages)
    result = evaluate_t2i(config)
    assert [(m.option, m.spec, m.found) for m in result.plan.models if m.option in ("--refiner", "--upscaler")] == [
        ("--refiner", "tiny-sdxl-refiner", "tiny preset"), ("--upscaler", "tiny-latent-upscaler", "tiny preset")]
    with open(result.csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["pipeline"] for r in rows] == ["ko-encoder", "translate"]
    for row in rows:
        assert float(row["upscale_s"]) > 0 and float(row["refine_s"]) > 0
        stages_sum = sum(float(row[f"{s}_s"]) for s in ("translate", "text_encode", "denoise", "upscale", "decode",
                                                         "refine"))
        assert float(row["total_s"]) == pytest.approx(stages_sum, abs=1e-5)
        with Image.open(tmp_path / "eval" / row["image"]) as image:
            assert image.size == (128, 128)
    saved = json.loads((tmp_path / "eval" / "eval_config.json").read_text())
    assert saved["stages"]["refiner"] == "tiny-sdxl-refiner"
