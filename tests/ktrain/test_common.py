"""The training plumbing every trainer shares: precision choice, decay groups, checkpoints, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdata.errors import ConfigError
from ktrain.checkpoints import CheckpointManager, TrainerState, find_resume_checkpoint, list_checkpoints
from ktrain.metrics import MetricsLog
from ktrain.optim import build_optimizer, build_scheduler, decay_groups
from ktrain.runtime import make_accelerator, resolve_precision


@pytest.mark.parametrize(
    ("requested", "cuda", "bf16", "expected"),
    [("auto", False, False, "no"), ("bf16", False, True, "no"), ("auto", True, True, "bf16"),
     ("auto", True, False, "fp16"), ("fp16", True, True, "fp16")],
)
def test_precision_is_fp32_on_cpu_and_mixed_on_gpu(requested: str, cuda: bool, bf16: bool, expected: str) -> None:
    assert resolve_precision(requested, cuda, bf16) == expected


def test_unknown_precision_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="mixed_precision must be one of"):
        resolve_precision("fp8", True, True)


def test_biases_norms_and_embeddings_get_no_weight_decay() -> None:
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = decay_groups(model, 0.1)
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 4])]
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0


def _train(output: Path, steps: int, resume: str | None = None, limit: int | None = 2) -> tuple[list, TrainerState]:
    accelerator = make_accelerator("no", seed=0)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = build_optimizer(model, lr=0.1)
    scheduler = build_scheduler(optimizer, "cosine", warmup_steps=1, total_steps=6)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    manager = CheckpointManager(output, accelerator, limit=limit)
    state = TrainerState()
    checkpoint = find_resume_checkpoint(output, resume)
    if checkpoint is not None:
        state = manager.load(checkpoint)
    losses = []
    data = torch.arange(18, dtype=torch.float32).reshape(6, 3) / 10
    while state.step < steps:
        x = data[state.step : state.step + 1] + torch.randn(1, 3) * 0.01  # RNG state must survive resume
        loss = (model(x) - 1.0).pow(2).mean()
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        state.step += 1
        losses.append(loss.item())
        state.improve(loss.item(), state.step, greater_is_better=False)
        manager.save(state, {"lr": 0.1})
    return losses, state


def test_resume_latest_continues_the_same_run_and_prunes_but_keeps_best(tmp_path: Path) -> None:
    full, _ = _train(tmp_path / "full", steps=6, limit=None)
    first, _ = _train(tmp_path / "split", steps=3)
    second, state = _train(tmp_path / "split", steps=6, resume="latest")
    assert first + second == pytest.approx(full, abs=1e-6)
    kept = [step for step, _ in list_checkpoints(tmp_path / "split")]
    assert len(kept) <= 3 and 6 in kept and state.best_step in kept
    assert not list((tmp_path / "split").glob(".checkpoint-*"))


def test_resume_from_a_folder_that_is_not_a_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a checkpoint folder"):
        find_resume_checkpoint(tmp_path, str(tmp_path))
    assert find_resume_checkpoint(tmp_path / "nothing-yet", "latest") is None


def test_metrics_log_drops_lines_after_the_resumed_step(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in range(1, 6):
        log.log(step, loss=torch.tensor(1.0 / step))
    log.truncate_after(3)
    assert [r["step"] for r in log.read()] == [1, 2, 3]
    assert log.read()[1]["loss"] == pytest.approx(0.5)


def test_pruning_keeps_the_newest_checkpoint_even_when_the_best_is_older(tmp_path: Path) -> None:
    accelerator = make_accelerator("no", seed=0)
    model = accelerator.prepare(torch.nn.Linear(2, 1))
    manager = CheckpointManager(tmp_path, accelerator, limit=1)
    state = TrainerState()
    for step, metric in [(1, 0.5), (2, 0.1), (3, 0.9), (4, 0.8)]:  # lower is better: step 2 stays best
        state.step = step
        state.improve(metric, step, greater_is_better=False)
        manager.save(state, {})
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2, 4]
    assert model is not None

