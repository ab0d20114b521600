"""Gradient checkpointing through the frozen UNet: on by default when the through-UNet term is, it really
recomputes (the UNet frozen and in eval mode), and losses and gradients equal the run without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ktrain.encoder.build import EncoderRun, build_run, maybe_unet
from ktrain.encoder.config import EncoderTrainConfig
from ktrain.encoder.encoding import checkpoint_unet
from ktrain.encoder.loop import compute_losses
from ktrain.encoder.losses import weighted_total
from ktrain.encoder.student import load_text_encoder
from ktrain.runtime import make_accelerator
from tests.ktrain.encoder.settings import TINY


def _run(tmp_path: Path, pairs: Path, **changes: Any) -> EncoderRun:
    config = EncoderTrainConfig(pairs=str(pairs), out=str(tmp_path / "run"), max_steps=2,
                                **{**TINY, "batch_size": 4, **changes})
    (tmp_path / "run").mkdir(parents=True, exist_ok=True)
    return build_run(config, make_accelerator("no", 1, 0))


def _checkpointed(unet: Any) -> bool:
    return any(getattr(module, "gradient_checkpointing", False) for module in unet.modules())


def _losses_and_gradients(run: EncoderRun) -> tuple[dict[str, float], dict[str, Any]]:
    run.student.zero_grad(set_to_none=True)
    losses = compute_losses(run, [0, 5, 9, 17], micro_step=3, device="cpu")
    weighted_total(losses, run.config.weights).backward()
    grads = {name: p.grad.clone() for name, p in run.student.named_parameters() if p.grad is not None}
    return {k: v.item() for k, v in losses.items()}, grads


@pytest.mark.parametrize(("changes", "on"), [({}, True), ({"gradient_checkpointing": False}, False),
                                             ({"unet_weight": 0.0}, False)])  # then the UNet only validates
def test_checkpointing_is_on_where_the_unet_is_backpropagated_through(changes: dict, on: bool) -> None:
    teacher = load_text_encoder("tiny-sd")
    unet = maybe_unet(EncoderTrainConfig(teacher="tiny-sd", **changes), teacher, torch.float32, "cpu")
    assert _checkpointed(unet) is on and not unet.training


def test_checkpointed_losses_and_gradients_equal_the_plain_ones(tmp_path: Path, seed_pairs: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run(tmp_path, seed_pairs, gradient_checkpointing=False)
    plain_losses, plain_grads = _losses_and_gradients(run)

    calls = []
    original = torch.utils.checkpoint.checkpoint

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("use_reentrant"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", counting)
    checkpoint_unet(run.unet)
    losses, grads = _losses_and_gradients(run)
    assert calls  # the blocks really were recomputed in backward, with the UNet frozen
    assert losses == pytest.approx(plain_losses, rel=1e-6, abs=1e-9)
    assert grads.keys() == plain_grads.keys() and len(grads) > 10
    for name, grad in grads.items():
        assert torch.allclose(grad, plain_grads[name], rtol=1e-5, atol=1e-8), name
    assert not any(p.requires_grad or p.grad is not None for p in run.unet.parameters())
    assert all(not m.training for m in run.unet.modules() if not hasattr(m, "gradient_checkpointing"))
