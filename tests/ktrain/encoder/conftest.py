"""Shared set-up for the encoder trainer's tests: the bundled K-contents corpus and the 50 seed pairs as
parallel manifests, and one short training run with the tiny settings that several tests read (training is
the slow part; the quick tests train a few steps on the seed pairs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.torch_threads import torch_on_one_thread
from tests.ktrain.encoder.settings import TINY


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Any:
    """Tiny models do microseconds of work per op; on a shared 2-core machine two threads' barriers made the
    tiny UNet about 20 times slower than one thread. Results do not depend on it."""
    with torch_on_one_thread():
        yield


@pytest.fixture(scope="session")
def seed_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ktrain.encoder.data import write_seed_manifest

    return write_seed_manifest(tmp_path_factory.mktemp("pairs") / "seed").path


@pytest.fixture(scope="session")
def bundled_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled K-contents corpus (301 pairs) built by ``kcli corpus build``: 290 train, 11 validation."""
    from kdata.corpus.build import run_corpus_build
    from kdata.corpus.sample import SAMPLE_CORPUS

    return run_corpus_build([SAMPLE_CORPUS], tmp_path_factory.mktemp("corpus") / "bundled").manifest.path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, bundled_pairs: Path) -> Any:
    """80 steps of the full objective on the bundled corpus, validated (and checkpointed) every 20 steps."""
    from ktrain.encoder.config import EncoderTrainConfig
    from ktrain.encoder.loop import train_encoder

    out = tmp_path_factory.mktemp("encoder") / "run"
    settings = {**TINY, "batch_size": 16, "learning_rate": 2e-3, "warmup_steps": 5}
    config = EncoderTrainConfig(pairs=str(bundled_pairs), out=str(out), max_steps=80, checkpoint_every=20,
                                checkpoints_total_limit=1, **settings)
    return train_encoder(config)
