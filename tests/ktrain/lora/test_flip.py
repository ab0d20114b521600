"""``random_flip``: mirrored images drawn from the step's own generator, cached on both sides, mirrored
crop conditioning for SDXL; off by default, leaving a run's random stream as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ktrain.lora.batches import draw_flips
from ktrain.lora.data import Example, crop_box, mirrored
from tests.ktrain.lora.helpers import tiny_config


def test_flips_come_from_the_generator_and_are_off_without_drawing() -> None:
    generator = torch.Generator().manual_seed(3)
    assert draw_flips(8, 0.0, generator) is None
    assert torch.equal(torch.rand(1, generator=generator), torch.rand(1, generator=torch.Generator().manual_seed(3)))
    first = draw_flips(64, 0.5, torch.Generator().manual_seed(5))
    assert first == draw_flips(64, 0.5, torch.Generator().manual_seed(5)) and 16 < sum(first) < 48
    assert draw_flips(4, 1.0, torch.Generator().manual_seed(5)) == [True] * 4


def test_a_mirrored_example_counts_its_crop_from_the_other_side() -> None:
    example = Example("k", "s", "c", size=(100, 60), bucket=(64, 48), crop_top_left=(0, 0))
    (resized_w, _), (top, left) = crop_box(example.size, example.bucket)
    example = Example("k", "s", "c", size=(100, 60), bucket=(64, 48), crop_top_left=(top, left))
    flipped = mirrored(example)
    assert resized_w == 80 and left == 8 and flipped.crop_top_left == (top, 80 - 8 - 64)
    assert mirrored(flipped).crop_top_left == example.crop_top_left


def test_flipped_training_is_the_same_cached_or_not_and_differs_from_unflipped(
        trained: tuple[Any, Any], food_manifest: Any, lora_cache: Path, tmp_path: Path) -> None:
    from ktrain.lora.loop import train_lora

    settings = {"max_steps": 2, "validation_steps": 0, "validation_prompts": [], "validation_images": 0,
                "checkpointing_steps": 2, "random_flip": 1.0}
    cached = train_lora(tiny_config(food_manifest, tmp_path / "cached", lora_cache, **settings))
    live = train_lora(tiny_config(food_manifest, tmp_path / "live", lora_cache, cache_latents=False, **settings))
    assert cached.losses == pytest.approx(live.losses, rel=1e-5)
    _, unflipped = trained
    assert cached.losses != pytest.approx(unflipped.losses[:2], rel=1e-3)


def test_cli_random_flip_sets_half_and_a_bad_chance_is_one_line(tmp_path: Path) -> None:
    from ktrain.lora.config import load_lora_config

    assert load_lora_config(None, manifest="m", base="tiny-sd", out="o", random_flip=0.5).random_flip == 0.5
    assert load_lora_config(None, manifest="m", base="tiny-sd", out="o").random_flip == 0.0
    from tests.helpers.cli import kcli

    result = kcli("train", "lora", "--manifest", tmp_path, "--base", "tiny-sd", "--out", tmp_path / "o",
                  "--set", "random_flip=1.5")
    assert result.returncode == 2 and "random_flip" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_flipped_latent_is_the_vae_encoding_of_the_mirrored_image(food_manifest: Any, tmp_path: Path) -> None:
    """Cached and on-the-fly, the flipped side of an example is what the VAE makes of its mirror image,
    and not of the image itself."""
    from types import SimpleNamespace

    from diffusers import AutoencoderKL

    from kdata.models import resolve_model
    from ktrain.lora.cache import EncodingCache, LatentSource
    from ktrain.lora.data import preprocess
    from ktrain.lora.setup import load_data

    vae = AutoencoderKL.from_pretrained(resolve_model("tiny-sd"), subfolder="vae")
    components = SimpleNamespace(vae=vae, vae_ref=SimpleNamespace(fingerprint="tiny-sd-vae"))
    live_data = load_data(tiny_config(food_manifest, tmp_path / "o", tmp_path, cache_latents=False))
    example = live_data.examples[0]
    with torch.no_grad():
        pixels = preprocess(example.image, example.bucket)[None]
        mirrored_mean = vae.encode(pixels.flip(-1)).latent_dist.mean
        plain_mean = vae.encode(pixels).latent_dist.mean
    live = LatentSource(live_data, components, "cpu", torch.float32, None, flips=True)
    cached_data = load_data(tiny_config(food_manifest, tmp_path / "o", tmp_path))
    cached = LatentSource(cached_data, components, "cpu", torch.float32, EncodingCache(tmp_path, "latents"),
                          flips=True)
    cached.fill(range(len(cached_data.examples)))
    for source in (live, cached):
        with torch.no_grad():
            flipped_mean, _ = source.distribution([0], [True])
            unflipped_mean, _ = source.distribution([0], [False])
        torch.testing.assert_close(flipped_mean, mirrored_mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(unflipped_mean, plain_mean, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(flipped_mean, plain_mean, atol=1e-3)
