"""``--report-to``: the trainers log through accelerate's trackers beside metrics.jsonl, off by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kdata.errors import ConfigError, MissingDependencyError
from ktrain.trackers import check_trackers
from tests.helpers.cli import kcli
from tests.ktrain.lora.helpers import tiny_config


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in the TensorBoard event files of ``run_dir``, read by TensorBoard itself (the
    hyper-parameters go to a sub-folder of their own)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def test_tensorboard_gets_the_losses_metrics_jsonl_gets(food_manifest: Any, lora_cache: Path, tmp_path: Path) -> None:
    from ktrain.lora.loop import train_lora

    config = tiny_config(food_manifest, tmp_path / "out", lora_cache, max_steps=3, validation_steps=0,
                         validation_prompts=[], report_to=["tensorboard"])
    train_lora(config)
    logged = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    losses = [(r["step"], r["loss"]) for r in logged if "loss" in r]
    series = scalars(tmp_path / "out" / "logs" / "kcli-lora")
    assert [step for step, _ in series["loss"]] == [1, 2, 3]
    assert [value for _, value in series["loss"]] == pytest.approx([value for _, value in losses], rel=1e-6)
    assert "lr" in series and "val_loss" in series


def test_no_tracker_by_default(trained: tuple[Any, Any]) -> None:
    config, _ = trained
    assert config.report_to == [] and not (Path(config.out) / "logs").exists()


def test_unknown_or_missing_trackers_fail_before_any_load() -> None:
    with pytest.raises(ConfigError, match="unknown tracker 'tensorbord'; choose from tensorboard, wandb"):
        check_trackers(["tensorbord"])
    with pytest.raises(MissingDependencyError, match="pip install wandb"):
        check_trackers(["wandb"])


def test_cli_report_to_typo_is_one_line(tmp_path: Path) -> None:
    result = kcli("train", "lora", "--manifest", tmp_path, "--base", "tiny-sd", "--out", tmp_path / "o",
                  "--report-to", "tensorbord")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
