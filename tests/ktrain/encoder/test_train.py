"""Training end to end on tiny-sd and the bundled corpus: the loss falls, held-out retrieval beats chance and
denoising agrees better than an empty prompt, the best checkpoint is tracked and kept, and a resumed run
(on the seed pairs, for speed) continues the very same run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from kdata.errors import ConfigError
from ktrain.checkpoints import list_checkpoints, read_state
from ktrain.encoder.config import EncoderTrainConfig
from ktrain.encoder.loop import StaleRunError, train_encoder
from tests.ktrain.encoder.settings import TINY


def _losses(out: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_training_loss_falls(trained: Any) -> None:
    losses = _losses(trained.out)
    assert len(losses) == 80 and losses[0] == trained.first_loss and losses[-1] == trained.last_loss
    assert sum(losses[-10:]) / 10 < 0.4 * sum(losses[:10]) / 10


def test_every_objective_is_logged_and_falls(trained: Any) -> None:
    rows = [r for r in map(json.loads, (trained.out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    for name in ("pooled", "english", "sequence", "unet"):
        assert rows[-1][name] < rows[0][name], name


def test_held_out_retrieval_ends_well_above_chance(trained: Any) -> None:
    validation = trained.validation
    assert validation["pairs"] == 11 and validation["chance_r_at_1"] == pytest.approx(1 / 11)
    assert validation["r_at_1"] >= 2 * validation["chance_r_at_1"]
    # The UNet's noise prediction under the student's unseen Korean is closer to the teacher's English than
    # the empty prompt's is: the student tells the UNet most of what the English prompt does.
    assert 0 < validation["denoise_relative"] < 0.6


def test_best_checkpoint_is_the_best_validation_and_is_kept(trained: Any) -> None:
    out = trained.out
    evals = {r["step"]: r["val/denoise_relative"] for r in map(json.loads, (out / "metrics.jsonl").read_text()
                                                                   .splitlines()) if "val/denoise_relative" in r}
    assert sorted(evals) == [20, 40, 60, 80]
    best_step = min(evals, key=evals.get)  # lower is better
    assert trained.best_step == best_step and trained.best_metric == pytest.approx(evals[best_step])
    kept = [step for step, _ in list_checkpoints(out)]
    assert 80 in kept and best_step in kept and len(kept) <= 2  # limit 1, plus the best, never pruned
    assert read_state(out / "checkpoint-80").best_step == best_step
    info = json.loads((out / "best" / "kcli_encoder.json").read_text())["components"]["text_encoder"]
    assert info["step"] == best_step and info["validation"]["denoise_relative"] == pytest.approx(evals[best_step])


def _config(out: Path, pairs: Path, **changes: Any) -> EncoderTrainConfig:
    settings = {**TINY, "batch_size": 4, "max_steps": 4, "checkpoint_every": 2, "eval_timesteps": [500], **changes}
    return EncoderTrainConfig(pairs=str(pairs), out=str(out), **settings)


class Interrupt(Exception):
    pass


def test_resume_latest_continues_the_same_run(tmp_path: Path, seed_pairs: Path) -> None:
    train_encoder(_config(tmp_path / "whole", seed_pairs))

    def crash_after_two(event: Any) -> None:
        if event.done == 3:  # checkpoint-2 is on disk, step 3 is not: like a kill -9 mid-run
            raise Interrupt

    with pytest.raises(Interrupt):
        train_encoder(_config(tmp_path / "split", seed_pairs), progress=crash_after_two)
    result = train_encoder(_config(tmp_path / "split", seed_pairs), resume="latest")
    assert result.resumed_from == 2 and result.steps == 4
    assert _losses(tmp_path / "split") == pytest.approx(_losses(tmp_path / "whole"), abs=1e-6)
    whole = json.loads((tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()[-1])
    split = json.loads((tmp_path / "split" / "metrics.jsonl").read_text().splitlines()[-1])
    assert split["val/denoise_mse"] == pytest.approx(whole["val/denoise_mse"], rel=1e-5)
    from safetensors.torch import load_file

    ours = load_file(tmp_path / "split" / "final" / "text_encoder" / "model.safetensors")
    theirs = load_file(tmp_path / "whole" / "final" / "text_encoder" / "model.safetensors")
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-6) for k in theirs)


def test_a_run_folder_is_never_mixed_with_another_run(tmp_path: Path, seed_pairs: Path) -> None:
    config = _config(tmp_path / "run", seed_pairs, max_steps=2, unet_weight=0.0, sequence_weight=0.0)
    train_encoder(config)
    with pytest.raises(ConfigError, match="already holds a training run \\(checkpoint-2\\); pass --resume latest"):
        train_encoder(config)
    with pytest.raises(StaleRunError, match="other settings \\(learning_rate\\)"):
        train_encoder(_config(tmp_path / "run", seed_pairs, max_steps=2, unet_weight=0.0, sequence_weight=0.0,
                              learning_rate=0.5), resume="latest")
    again = train_encoder(config, resume="latest")  # already finished: nothing to do, same result
    assert again.steps == 2 and again.resumed_from == 2 and len(_losses(tmp_path / "run")) == 2


def test_through_unet_objective_needs_a_unet(tmp_path: Path, seed_pairs: Path) -> None:
    import shutil

    from kdata.models import ensure_preset

    sd = ensure_preset("tiny-sd")
    text_only = tmp_path / "clip-text"  # a bare CLIP text model with its tokenizer, like openai/clip-vit-large-patch14
    shutil.copytree(sd / "text_encoder", text_only)
    shutil.copytree(sd / "tokenizer", text_only, dirs_exist_ok=True)
    config = _config(tmp_path / "run", seed_pairs, teacher=str(text_only))
    with pytest.raises(ConfigError, match="unet_weight > 0 needs a Stable Diffusion teacher"):
        train_encoder(config)
    # Without the UNet term the same teacher trains; there is no UNet to measure denoising agreement with.
    result = train_encoder(_config(tmp_path / "run", seed_pairs, teacher=str(text_only), unet_weight=0.0,
                                   max_steps=1))
    assert result.validation["r_at_1"] is not None and result.validation["denoise_mse"] is None
