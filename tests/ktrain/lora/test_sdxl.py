"""LoRA on the tiny SDXL base: size/crop ids from the manifest, training, text cache with pooled embeddings,
resume, and both exported files loading in diffusers' own ``StableDiffusionXLPipeline`` to the same image."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from kdata.models import resolve_model
from ktrain.lora.data import load_training_data, make_buckets, open_training_manifest
from ktrain.lora.loop import train_lora
from ktrain.lora.sdxl import example_time_ids, sgm_module_name, time_ids
from ktrain.metrics import MetricsLog
from tests.helpers.manifests import write_rows
from tests.ktrain.lora.helpers import tiny_config

PROMPT = "한복을 입은 여인"


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _val_losses(out: str | Path) -> list[tuple[int, float]]:
    return [(r["step"], r["val_loss"]) for r in MetricsLog(Path(out) / "metrics.jsonl").read() if "val_loss" in r]


# ---- size/crop conditioning --------------------------------------------------------------------------------


def test_time_ids_are_height_first_original_crop_target() -> None:
    assert time_ids((1024, 768), (10, 20), (64, 48)) == [768, 1024, 10, 20, 48, 64]


def test_time_ids_come_from_the_manifest_original_size_and_the_crop(tmp_path: Path) -> None:
    # A stored 96 x 64 image that ingest shrank from 1536 x 1024, and one whose manifest has no original size.
    rows = [
        {"key": "wide", "status": "ok", "image_bytes": _png(96, 64), "title": "넓은 그림",
         "original_width": 1536, "original_height": 1024},
        {"key": "plain", "status": "ok", "image_bytes": _png(40, 80), "title": "세로 그림",
         "original_width": None, "original_height": None},
    ]
    manifest = write_rows(tmp_path / "manifest", rows)
    buckets = make_buckets(64, 16, True, 2.0)
    data = load_training_data(open_training_manifest(manifest.path, "title"), "title", buckets, keep_bytes=False)
    wide, plain = sorted(data.examples, key=lambda e: e.key, reverse=True)
    assert wide.original_size == (1536, 1024) and wide.size == (96, 64)
    # 96 x 64 (3:2) goes to the 80 x 48 bucket: scaled to cover it, 80 x 53, then 2 rows cut off the top.
    assert wide.bucket == (80, 48) and wide.crop_top_left == (2, 0)
    assert example_time_ids(wide) == [1024, 1536, 2, 0, 48, 80]
    # Without manifest columns the decoded size stands in; 40 x 80 (1:2) fits the 48 x 96 bucket.
    assert plain.original_size is None
    assert example_time_ids(plain) == [80, 40, *plain.crop_top_left, plain.bucket[1], plain.bucket[0]]


@pytest.mark.parametrize(("diffusers_name", "sgm_name"), [
    ("down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q", "input_blocks.4.1.transformer_blocks.0.attn1.to_q"),
    ("down_blocks.2.attentions.1.proj_in", "input_blocks.8.1.proj_in"),
    ("mid_block.attentions.0.transformer_blocks.3.attn2.to_k", "middle_block.1.transformer_blocks.3.attn2.to_k"),
    ("up_blocks.0.attentions.2.transformer_blocks.9.attn2.to_out.0",
     "output_blocks.2.1.transformer_blocks.9.attn2.to_out.0"),
    ("up_blocks.1.attentions.0.proj_out", "output_blocks.3.1.proj_out"),
    ("down_blocks.1.resnets.0.conv1", None),
])
def test_sgm_names_follow_sdxl_base_layout(diffusers_name: str, sgm_name: str | None) -> None:
    # The real SDXL base has 2 layers per block; these pairs are its kohya-ss / diffusers module names.
    assert sgm_module_name(diffusers_name, 2) == sgm_name


# ---- training ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdxl_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache of its own: other tests train on tiny-sdxl with the same images, and the cache counts below
    are of a first run."""
    return tmp_path_factory.mktemp("sdxl-cache")


@pytest.fixture(scope="module")
def sdxl_trained(food_manifest: Any, sdxl_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Six steps on one repeated batch (the four food images), UNet LoRA, frozen cached text encoders."""
    config = tiny_config(food_manifest, tmp_path_factory.mktemp("sdxl") / "out", sdxl_cache, base="tiny-sdxl",
                         batch_size=4)
    return config, train_lora(config)


def test_sdxl_lora_validation_loss_falls_on_a_repeated_batch(sdxl_trained: tuple[Any, Any]) -> None:
    config, result = sdxl_trained
    assert result.steps == 6 and all(np.isfinite(result.losses))
    val = _val_losses(config.out)
    assert [step for step, _ in val] == [0, 3, 6]
    losses = [v for _, v in val]
    assert losses[0] > losses[1] > losses[2], losses  # fixed noise and timesteps: no luck involved
    assert result.data["buckets"] == {"64x64": 4}
    assert (Path(config.out) / "samples" / "step-000006.png").exists()  # rendered by StableDiffusionXLPipeline


def test_sdxl_text_cache_holds_states_and_pooled_and_matches_live_encoding(
        sdxl_trained: tuple[Any, Any], food_manifest: Any, sdxl_cache: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    config, full = sdxl_trained
    assert full.cache == {"latents/hit": 0, "latents/miss": 4, "text/hit": 0, "text/miss": 5}
    entries = [load_file(p) for p in (sdxl_cache / "text").rglob("*.safetensors")]
    sdxl_entries = [e for e in entries if "pooled" in e]
    assert len(sdxl_entries) == 5  # four captions and the empty one
    assert {tuple(e["states"].shape) for e in sdxl_entries} == {(77, 64)}  # 32 + 32 wide, both encoders
    assert {tuple(e["pooled"].shape) for e in sdxl_entries} == {(32,)}
    live = tiny_config(food_manifest, tmp_path / "live", sdxl_cache, base="tiny-sdxl", batch_size=4,
                       cache_latents=False, cache_text=False, max_steps=2, validation_prompts=[],
                       validation_images=0)
    assert train_lora(live).losses == pytest.approx(full.losses[:2], abs=1e-5)


def _renders(out: Path, weight_names: list[str]) -> list[tuple[np.ndarray, Any]]:
    """(image, encode_prompt output) of the base alone ("") or with each LoRA file, all from one pipeline."""
    import torch
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(resolve_model("tiny-sdxl"))
    pipe.set_progress_bar_config(disable=True)
    results = []
    for weight_name in weight_names:
        if weight_name:
            pipe.load_lora_weights(str(out), weight_name=weight_name)
        with torch.no_grad():
            embeds = pipe.encode_prompt(PROMPT, do_classifier_free_guidance=False)
            image = pipe(PROMPT, num_inference_steps=2, height=64, width=64, output_type="np",
                         generator=torch.Generator().manual_seed(0)).images[0]
        results.append((image, embeds))
        if weight_name:
            pipe.unload_lora_weights()
    return results


def test_sdxl_exports_load_in_diffusers_and_give_the_same_image(sdxl_trained: tuple[Any, Any]) -> None:
    config, result = sdxl_trained
    out = Path(config.out)
    with safe_open(result.files["kohya"], "pt") as handle:
        keys, metadata = list(handle.keys()), handle.metadata()
    assert metadata["ss_base_model_version"] == "sdxl_base_v1-0"
    assert metadata["modelspec.architecture"] == "stable-diffusion-xl-v1-base/lora"
    blocks = {k.split("_1_transformer")[0] for k in keys}
    assert blocks == {"lora_unet_input_blocks_4", "lora_unet_input_blocks_5", "lora_unet_middle_block",
                      "lora_unet_output_blocks_0", "lora_unet_output_blocks_1", "lora_unet_output_blocks_2"}
    (base_image, _), (diffusers_image, _), (kohya_image, _) = _renders(
        out, ["", "pytorch_lora_weights.safetensors", "lora.safetensors"])
    assert np.abs(diffusers_image - kohya_image).max() < 1e-5
    assert np.abs(diffusers_image - base_image).max() > 0.01  # the LoRA changes the image


@pytest.mark.slow
def test_sdxl_text_encoder_lora_resumes_exactly_and_loads_into_both_encoders(
        food_manifest: Any, lora_cache: Path, tmp_path: Path) -> None:
    """LoRA on both text encoders with gradient checkpointing: an interrupted run resumed equals the whole
    run, and both files carry both encoders' LoRA into diffusers."""
    options = dict(base="tiny-sdxl", train_text_encoder=True, gradient_checkpointing=True, max_steps=2,
                   checkpointing_steps=1, validation_prompts=[], validation_images=2, validation_steps=1)
    full = train_lora(tiny_config(food_manifest, tmp_path / "full", lora_cache, **options))
    split = tiny_config(food_manifest, tmp_path / "split", lora_cache, **options)

    class Interrupted(Exception):
        pass

    def stop_at_one(event: Any) -> None:
        if event.phase == "train" and event.done == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_lora(split, progress=stop_at_one)
    resumed = train_lora(split, resume="latest")
    assert resumed.resumed_from == 1
    assert [r["loss"] for r in MetricsLog(Path(split.out) / "metrics.jsonl").read() if "loss" in r] == \
        pytest.approx(full.losses, abs=1e-6)
    val_split, val_full = _val_losses(split.out), _val_losses(full.out)
    assert [s for s, _ in val_split] == [s for s, _ in val_full] == [0, 1, 2]
    assert [v for _, v in val_split] == pytest.approx([v for _, v in val_full], abs=1e-6)

    with safe_open(str(Path(split.out) / "lora.safetensors"), "pt") as handle:
        names = list(handle.keys())
    prefixes = {k.split("_text_model")[0] for k in names if "_text_model" in k}
    assert prefixes == {"lora_te1", "lora_te2"}
    (_, base_embeds), (diffusers_image, diffusers_embeds), (kohya_image, kohya_embeds) = _renders(
        Path(split.out), ["", "pytorch_lora_weights.safetensors", "lora.safetensors"])
    assert np.abs(diffusers_image - kohya_image).max() < 1e-5
    for index in (0, 2):  # per-token states (both encoders) and the pooled embedding (second encoder)
        assert (diffusers_embeds[index] - kohya_embeds[index]).abs().max() < 1e-5
        assert (diffusers_embeds[index] - base_embeds[index]).abs().max() > 1e-4  # the encoders' LoRA is applied
