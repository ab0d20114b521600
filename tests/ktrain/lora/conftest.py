"""Shared set-up for the LoRA trainer tests: a four-image manifest, tiny-sd at 64 px, one trained LoRA.

The trained run (6 steps, batch 2, checkpoints every 2 steps) is made once per package and read by the
training, export and generation tests; the resume test repeats it with an interruption and compares.

Torch runs on one thread here: the tiny model's ops are too small to gain from a second thread, and on a
CPU shared with other jobs OpenMP's waiting threads made one UNet step about 5x slower (measured 21 s
against 4 s at batch 4 under load). Results do not depend on it; the thread count is restored after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kdata.manifest import Manifest
from kdata.samples import sample_rows
from kdata.schema import Status
from tests.helpers.manifests import write_rows
from tests.helpers.torch_threads import torch_on_one_thread
from tests.ktrain.lora.helpers import food_rows, tiny_config


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread() -> Any:
    with torch_on_one_thread():
        yield


@pytest.fixture(scope="package")
def food_manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """The four food samples plus one rejected row, which training must leave out."""
    rejected = {**sample_rows()[0], "key": "rejected-1", "status": Status.REJECTED, "reason": "blurry"}
    return write_rows(tmp_path_factory.mktemp("food") / "manifest", [*food_rows(), rejected])


@pytest.fixture(scope="package")
def lora_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lora-cache")


@pytest.fixture(scope="package")
def trained(food_manifest: Manifest, lora_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(config, result) of one uninterrupted 6-step run."""
    from ktrain.lora.loop import train_lora

    config = tiny_config(food_manifest, tmp_path_factory.mktemp("trained") / "out", lora_cache)
    return config, train_lora(config)
