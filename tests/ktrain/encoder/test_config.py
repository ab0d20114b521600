"""EncoderTrainConfig: defaults < TOML file < named options < --set; bad settings are one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.config import parse_set_options
from kdata.errors import ConfigError
from ktrain.encoder.config import changed_settings, load_train_config

REQUIRED = {"pairs": "p", "teacher": "tiny-sd", "out": "o"}


def test_precedence_file_then_options_then_set(tmp_path: Path) -> None:
    file = tmp_path / "enc.toml"
    file.write_text('max_steps = 7\nbatch_size = 4\nlearning_rate = 1e-4\neval_timesteps = [10, 20]\n')
    config = load_train_config(file, sets=["batch_size=6", "unet_weight=0"], max_steps=9, **REQUIRED)
    assert (config.max_steps, config.batch_size, config.learning_rate) == (9, 6, 1e-4)
    assert config.eval_timesteps == [10, 20] and config.weights["unet"] == 0.0


@pytest.mark.parametrize(
    ("sets", "message"),
    [(["max_stepz=3"], "unknown key 'max_stepz'; valid keys: "),
     (["pooled_weight=0", "english_weight=0", "sequence_weight=0", "unet_weight=0"], "at least one > 0"),
     (["best_metric=loss"], "best_metric = 'loss': expected one of r_at_1, r_at_5, mean_cosine, denoise_mse"),
     (["batch_size=big"], "batch_size = 'big': expected int >= 1"),
     (["hidden_layer=3"], "hidden_layer = 3: expected int < 0")],
)
def test_bad_settings_are_config_errors(sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_train_config(None, sets=sets, **REQUIRED)


def test_pairs_teacher_and_out_are_required() -> None:
    with pytest.raises(ConfigError, match="teacher is required"):
        load_train_config(None, pairs="p", out="o")


def test_set_values_are_read_as_toml_or_else_text() -> None:
    assert parse_set_options(["a=1", "b=1e-4", "c=true", "d=[1, 2]", "e=tiny-sd"]) == \
        {"a": 1, "b": 1e-4, "c": True, "d": [1, 2], "e": "tiny-sd"}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_set_options(["novalue"])


def test_resume_tolerates_only_bookkeeping_changes() -> None:
    base = load_train_config(None, **REQUIRED).to_dict()
    assert changed_settings(base, {**base, "log_every": 1, "checkpoints_total_limit": 9}) == []
    assert changed_settings(base, {**base, "learning_rate": 1.0, "seed": 3}) == ["learning_rate", "seed"]
