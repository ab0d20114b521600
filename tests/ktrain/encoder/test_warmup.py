"""The warm-up is capped to the run: a short run (the demo's 40 steps) reaches its peak learning rate, the
default 2,000-step run keeps its 100 warm-up steps, and the effective value is recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kdata.errors import ConfigError
from ktrain.encoder.config import EncoderTrainConfig, changed_settings, load_train_config
from ktrain.encoder.loop import build_schedule, train_encoder
from tests.ktrain.encoder.settings import TINY

REQUIRED = {"pairs": "p", "teacher": "tiny-sd", "out": "o"}


@pytest.mark.parametrize(
    ("settings", "warmup"),
    [({"max_steps": 40}, 4),  # the default warmup_steps = 100 would outlast the run
     ({"max_steps": 2000}, 100),  # the default run keeps all of it
     ({"max_steps": 40, "warmup_steps": 2}, 2),
     ({"max_steps": 40, "warmup_fraction": 0.5}, 20),
     ({"max_steps": 4, "warmup_steps": 2}, 0),
     ({"max_steps": 40, "warmup_fraction": 0.0}, 0)],
)
def test_effective_warmup_is_capped_to_a_fraction_of_the_run(settings: dict, warmup: int) -> None:
    assert EncoderTrainConfig(**settings).effective_warmup_steps == warmup


@pytest.mark.parametrize("sets", [["warmup_fraction=1.0"], ["warmup_fraction=-0.1"], ["warmup_steps=-1"]])
def test_a_warmup_that_never_ends_is_a_config_error(sets: list[str]) -> None:
    with pytest.raises(ConfigError, match="warmup"):
        load_train_config(None, sets=sets, **REQUIRED)


def _rates(config: EncoderTrainConfig) -> list[float]:
    """The learning rate each of the run's optimizer steps uses."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    scheduler = build_schedule(optimizer, config)
    rates = []
    for _ in range(config.max_steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return rates


def test_a_40_step_run_with_the_default_warmup_reaches_the_peak_rate() -> None:
    config = EncoderTrainConfig(max_steps=40, learning_rate=1e-3)  # warmup_steps = 100, the default
    rates = _rates(config)
    assert rates[4] == pytest.approx(1e-3) and max(rates) == pytest.approx(1e-3)
    assert rates[:4] == pytest.approx([0.0, 0.25e-3, 0.5e-3, 0.75e-3])
    assert rates[-1] < 0.01e-3  # cosine decay to (nearly) zero by the end


def test_a_short_run_trains_at_the_peak_rate_and_records_the_warmup(tmp_path: Path, seed_pairs: Path) -> None:
    settings = {**TINY, "warmup_steps": 100, "batch_size": 2, "sequence_weight": 0.0, "unet_weight": 0.0,
                "lr_scheduler": "constant_with_warmup", "eval_timesteps": [500]}
    config = EncoderTrainConfig(pairs=str(seed_pairs), out=str(tmp_path / "run"), max_steps=20, checkpoint_every=20,
                                **settings)
    result = train_encoder(config)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0] == {"step": 0, "lr_scheduler": "constant_with_warmup", "learning_rate": 1e-3, "max_steps": 20,
                       "warmup_steps": 2, "warmup_steps_set": 100, "teacher_cache": "memory"}
    rates = [r["lr"] for r in rows if "lr" in r]  # after step s: the rate step s + 1 trains at
    assert rates[:2] == pytest.approx([0.5e-3, 1e-3]) and rates[-1] == pytest.approx(1e-3)
    assert result.schedule["warmup_steps"] == 2 and result.schedule["warmup_steps_set"] == 100
    state = json.loads((tmp_path / "run" / "checkpoint-20" / "trainer_state.json").read_text())
    assert state["extra"]["schedule"]["warmup_steps"] == 2
    info = json.loads((tmp_path / "run" / "final" / "kcli_encoder.json").read_text())["components"]["text_encoder"]
    assert info["schedule"]["warmup_steps"] == 2


def test_a_checkpoint_from_before_the_cap_resumes_only_with_its_own_warmup() -> None:
    current = EncoderTrainConfig(max_steps=2000).to_dict()
    older = {k: v for k, v in current.items() if k not in ("warmup_fraction", "gradient_checkpointing",
                                                           "teacher_cache", "teacher_cache_dir",
                                                           "teacher_cache_shard_rows")}
    assert changed_settings(older, current) == []  # 100 of 2,000 steps: the cap changes nothing
    short = {**current, "max_steps": 40}
    assert changed_settings({**older, "max_steps": 40}, short) == ["warmup_fraction"]  # 100 then, 4 now
    # The old demo's 5 of 40 steps: --set warmup_fraction=0.125 gives the same 5 again.
    demo = {**older, "max_steps": 40, "warmup_steps": 5}
    assert changed_settings(demo, {**short, "warmup_steps": 5}) == ["warmup_fraction"]
    assert changed_settings(demo, {**short, "warmup_steps": 5, "warmup_fraction": 0.125}) == []
