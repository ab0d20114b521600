"""Shared set-up for the encoder trainer's tests: the 50 bundled seed pairs as a parallel manifest, tiny
settings, and one short training run that several tests read (training is the slow part)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# Tiny-sd is 32 wide; the UNet terms run on 8 x 8 latents (the UNet is convolutional) to stay fast.
TINY: dict[str, Any] = {
    "teacher": "tiny-sd", "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 2, "vocab_size": 2000,
    "min_frequency": 1, "unet_latent_size": 8, "eval_latents": 1, "eval_timesteps": [200, 600], "log_every": 1,
}


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Any:
    """Tiny models do microseconds of work per op; on a shared 2-core machine two threads' barriers made the
    tiny UNet about 20 times slower than one thread. Results do not depend on it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def seed_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ktrain.encoder.data import write_seed_manifest

    return write_seed_manifest(tmp_path_factory.mktemp("pairs") / "seed").path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, seed_pairs: Path) -> Any:
    """30 steps of the full objective on 40 seed pairs, validated (and checkpointed) every 10 steps."""
    from ktrain.encoder.config import EncoderTrainConfig
    from ktrain.encoder.loop import train_encoder

    out = tmp_path_factory.mktemp("encoder") / "run"
    config = EncoderTrainConfig(pairs=str(seed_pairs), out=str(out), max_steps=30, checkpoint_every=10,
                                checkpoints_total_limit=1, **TINY)
    return train_encoder(config)
