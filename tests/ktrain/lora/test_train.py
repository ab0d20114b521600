"""Training on tiny-sd: the loss falls, checkpoints hold what they must, resume continues the same run,
the caches are read instead of re-encoding and give the same numbers as encoding on the fly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from safetensors import safe_open

from kdata.errors import ConfigError
from ktrain.lora.loop import train_lora
from ktrain.metrics import MetricsLog
from tests.ktrain.lora.helpers import tiny_config

# tiny-sd: 6 transformer blocks (2 down, 1 mid, 3 up) x 2 attention layers x 4 projections x (A, B).
UNET_LORA_TENSORS = 6 * 2 * 4 * 2


def _metrics(out: str | Path, key: str) -> list[tuple[int, float]]:
    return [(r["step"], r[key]) for r in MetricsLog(Path(out) / "metrics.jsonl").read() if key in r]


def test_validation_loss_falls_when_overfitting_four_images(trained: tuple[Any, Any]) -> None:
    config, result = trained
    val = _metrics(config.out, "val_loss")
    assert [step for step, _ in val] == [0, 3, 6]
    losses = [v for _, v in val]
    assert losses[0] > losses[1] > losses[2], losses  # fixed noise and timesteps: no luck involved
    assert losses[2] < losses[0] - 0.005
    assert result.metrics["val_loss"] == pytest.approx(losses[2])
    assert [step for step, _ in _metrics(config.out, "loss")] == [1, 2, 3, 4, 5, 6]
    assert (Path(config.out) / "samples" / "step-000006.png").exists()


def test_rejected_rows_are_left_out_and_epochs_reuse_the_cache(trained: tuple[Any, Any]) -> None:
    _, result = trained
    assert result.data["rows"] == 5 and result.data["ok"] == 4 and result.data["used"] == 4
    assert result.data["buckets"] == {"64x64": 4}
    # 6 steps x 2 images = 3 epochs over 4 images, yet each image and caption was encoded once.
    assert result.cache == {"latents/hit": 0, "latents/miss": 4, "text/hit": 0, "text/miss": 5}


def test_checkpoints_hold_lora_weights_config_and_manifest_fingerprint(trained: tuple[Any, Any],
                                                                       food_manifest: Any) -> None:
    config, _ = trained
    out = Path(config.out)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-6"]  # limit 2
    checkpoint = out / "checkpoint-6"
    record = json.loads((checkpoint / "kcli_config.json").read_text())
    assert record["config"]["rank"] == 8 and record["config"]["caption_col"] == "title"
    assert record["manifest"]["fingerprint"] == food_manifest.fingerprint
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["step"] == 6 and state["extra"]["manifest_fingerprint"] == food_manifest.fingerprint
    with safe_open(str(checkpoint / "lora_state.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert len(keys) == UNET_LORA_TENSORS and all(k.startswith("unet.") and ".lora_" in k for k in keys)
    assert (checkpoint / "pytorch_lora_weights.safetensors").exists()
    assert not list(checkpoint.glob("model*.safetensors"))  # the frozen base is not copied into checkpoints


class Interrupted(Exception):
    pass


def test_resume_latest_reproduces_the_uninterrupted_losses(trained: tuple[Any, Any], food_manifest: Any,
                                                           lora_cache: Path, tmp_path: Path) -> None:
    config, _ = trained
    split = tiny_config(food_manifest, tmp_path / "out", lora_cache, validation_prompts=[])

    def stop_at_five(event: Any) -> None:
        if event.phase == "train" and event.done == 5:
            raise Interrupted  # after step 5 was logged; the newest checkpoint is checkpoint-4

    with pytest.raises(Interrupted):
        train_lora(split, progress=stop_at_five)
    first = _metrics(split.out, "loss")
    assert [s for s, _ in first] == [1, 2, 3, 4, 5]
    result = train_lora(split, resume="latest")
    assert result.resumed_from == 4 and len(result.losses) == 2
    assert result.cache["latents/miss"] == 0 and result.cache["latents/hit"] == 4  # a second run re-encodes nothing
    resumed, full = _metrics(split.out, "loss"), _metrics(config.out, "loss")
    assert [s for s, _ in resumed] == [1, 2, 3, 4, 5, 6]
    assert [v for _, v in resumed] == pytest.approx([v for _, v in full], abs=1e-6)
    val_split, val_full = _metrics(split.out, "val_loss"), _metrics(config.out, "val_loss")
    assert [s for s, _ in val_split] == [s for s, _ in val_full] == [0, 3, 6]
    assert [v for _, v in val_split] == pytest.approx([v for _, v in val_full], abs=1e-6)


def test_encoding_on_the_fly_gives_the_cached_run_s_losses(trained: tuple[Any, Any], food_manifest: Any,
                                                          lora_cache: Path, tmp_path: Path) -> None:
    config, full = trained
    live = tiny_config(food_manifest, tmp_path / "out", lora_cache, cache_latents=False, cache_text=False,
                       max_steps=2, validation_prompts=[], validation_images=0)
    result = train_lora(live)
    assert result.cache == {}
    assert result.losses == pytest.approx(full.losses[:2], abs=1e-5)


def test_resuming_with_other_settings_or_without_resume_is_refused(trained: tuple[Any, Any],
                                                                   food_manifest: Any, lora_cache: Path) -> None:
    config, _ = trained
    changed = tiny_config(food_manifest, Path(config.out), lora_cache, rank=4, alpha=4.0)
    with pytest.raises(ConfigError, match=r"other settings \(alpha, rank\)"):
        train_lora(changed, resume="latest")
    with pytest.raises(ConfigError, match="already holds checkpoints; pass --resume latest"):
        train_lora(config)


@pytest.mark.slow
def test_every_option_together_trains_and_resumes_exactly(food_manifest: Any, lora_cache: Path,
                                                          tmp_path: Path) -> None:
    """Text-encoder LoRA, EMA, accumulation, checkpointing, dropouts, offset noise, v-prediction, no caches."""
    options = dict(train_text_encoder=True, use_ema=True, ema_decay=0.9, gradient_accumulation_steps=2,
                   gradient_checkpointing=True, caption_dropout=0.5, lora_dropout=0.1, noise_offset=0.1,
                   prediction_type="v_prediction", cache_latents=False, max_steps=2, checkpointing_steps=1,
                   validation_prompts=[], validation_images=2, lr_scheduler="cosine", lr_warmup_steps=1)
    full = train_lora(tiny_config(food_manifest, tmp_path / "full", lora_cache, **options))
    split = tiny_config(food_manifest, tmp_path / "split", lora_cache, **options)

    def stop_at_one(event: Any) -> None:
        if event.phase == "train" and event.done == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_lora(split, progress=stop_at_one)
    resumed = train_lora(split, resume="latest")
    assert resumed.resumed_from == 1 and full.cache == {}  # the text encoder trains: no text cache
    assert [v for _, v in _metrics(split.out, "loss")] == pytest.approx(full.losses, abs=1e-6)
    assert resumed.metrics["val_loss"] == pytest.approx(full.metrics["val_loss"], abs=1e-6)
    with safe_open(str(Path(split.out) / "lora.safetensors"), "pt") as f:
        names = f.keys()
        te_up = [f.get_tensor(k) for k in names if k.startswith("lora_te_") and k.endswith("lora_up.weight")]
    assert te_up and any(t.abs().max() > 0 for t in te_up)  # starts at zero: the encoder's LoRA did learn


def test_validation_loss_is_the_mean_over_each_timestep_of_its_own_call(trained: Any) -> None:
    import torch

    from ktrain.lora.batches import step_generator
    from ktrain.lora.losses import training_target
    from ktrain.lora.setup import load_data, setup
    from ktrain.lora.validation import TIMESTEPS_PER_IMAGE, validation_indices, validation_loss

    config, _ = trained
    tr = setup(config, load_data(config))
    unet, scheduler = tr.unwrapped()["unet"].eval(), tr.components.noise_scheduler
    indices = validation_indices(tr.data.examples, 3)
    batched = validation_loss(unet, tr.latents, tr.texts, tr.data.examples, indices, scheduler, "epsilon", 5)
    generator = step_generator(5, -1, 0, 0)
    with torch.no_grad():  # one UNet call per timestep, the draws in the same order
        clean, states = tr.latents.sample(indices, generator), tr.texts.encode(
            [tr.data.examples[i].caption for i in indices])
        losses = []
        for k in range(TIMESTEPS_PER_IMAGE):
            t = torch.full((len(indices),), int((k + 0.5) * 1000 / TIMESTEPS_PER_IMAGE), dtype=torch.long)
            noise = torch.randn(clean.shape, generator=generator)
            pred = unet(scheduler.add_noise(clean, noise, t), t, states).sample
            target = training_target(scheduler, clean, noise, t, "epsilon")
            losses.append(torch.nn.functional.mse_loss(pred, target).item())
    assert batched == pytest.approx(sum(losses) / len(losses), rel=1e-5)
