"""Helpers for the LoRA trainer tests: the food sample rows and a tiny-sd training config."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from kdata.manifest import Manifest
from kdata.samples import sample_rows

FOOD = ["food-16", "food-17", "food-18", "food-19"]  # 256 x 256 each: one 64 x 64 bucket


def food_rows() -> list[dict[str, Any]]:
    return [r for r in sample_rows() if r["key"] in FOOD]


def tiny_config(manifest: Manifest, out: Path, cache: Path, **overrides: Any) -> Any:
    from ktrain.lora.config import LoraTrainConfig

    config = LoraTrainConfig(
        manifest=str(manifest.path), out=str(out), base="tiny-sd", caption_col="title", resolution=64,
        bucket_step=16, max_steps=6, batch_size=2, learning_rate=1e-2, rank=8, alpha=8.0, checkpointing_steps=2,
        checkpoints_total_limit=2, validation_steps=3, validation_prompts=["한복을 입은 여인"],
        validation_inference_steps=2, validation_images=4, cache_dir=str(cache),
    )
    return replace(config, **overrides)
