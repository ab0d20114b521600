"""``kcli train encoder --report-to tensorboard``: the logged losses reach TensorBoard as metrics.jsonl has them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ktrain.encoder.settings import TINY


def test_tensorboard_gets_the_encoders_losses(tmp_path: Path, seed_pairs: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ktrain.encoder.config import EncoderTrainConfig
    from ktrain.encoder.loop import train_encoder

    out = tmp_path / "run"
    train_encoder(EncoderTrainConfig(pairs=str(seed_pairs), out=str(out), max_steps=4, checkpoint_every=4,
                                     report_to=["tensorboard"], **{**TINY, "log_every": 2}))
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [(r["step"], r["loss"]) for r in logged if "loss" in r]
    events = EventAccumulator(str(out / "logs" / "kcli-encoder"))
    events.Reload()
    series = [(e.step, e.value) for e in events.Scalars("loss")]
    assert [step for step, _ in series] == [step for step, _ in losses] == [1, 2, 4]
    assert [value for _, value in series] == pytest.approx([value for _, value in losses], rel=1e-6)
