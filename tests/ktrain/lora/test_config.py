"""LoraTrainConfig: defaults < TOML < command line, unknown keys and bad values fail with a fix-it message."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.config import parse_set_options
from kdata.errors import ConfigError
from ktrain.lora.config import changed_settings, load_lora_config

REQUIRED = {"manifest": "m", "out": "o", "base": "tiny-sd"}


def test_file_overrides_defaults_and_command_line_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "lora.toml"
    path.write_text('rank = 16\nlearning_rate = 5e-4\ncaption_col = "title"\nvalidation_prompts = ["한옥"]\n',
                    encoding="utf-8")
    config = load_lora_config(path, **REQUIRED, rank=8, caption_col=None)
    assert (config.rank, config.learning_rate, config.caption_col) == (8, 5e-4, "title")
    assert config.validation_prompts == ["한옥"] and config.alpha == 8.0  # alpha defaults to the rank
    assert config.min_snr_gamma == 5.0 and config.target_modules == ["to_q", "to_k", "to_v", "to_out.0"]


def test_unknown_keys_list_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "lora.toml"
    path.write_text("rnak = 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'rnak'; valid keys: .*rank"):
        load_lora_config(path, **REQUIRED)


@pytest.mark.parametrize(
    ("override", "message"),
    [({"rank": 0}, "rank = 0: expected int >= 1"),
     ({"caption_dropout": 1.0}, "caption_dropout = 1.0: expected float >= 0 and < 1"),
     ({"resolution": 100}, "resolution 100 must be a multiple of bucket_step 64"),
     ({"prediction_type": "x0"}, "prediction_type = 'x0': expected one of epsilon, v_prediction"),
     ({"base": ""}, r"base is required \(give --base"),
     ({"output_name": "pytorch_lora_weights"}, "output_name must be a plain file name")],
)
def test_bad_values_say_how_to_fix_them(override: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_lora_config(None, **{**REQUIRED, **override})


def test_set_options_read_toml_values_and_plain_text() -> None:
    assert parse_set_options(["noise_offset=0.05", "use_ema=true", "validation_prompts=['한복', '한옥']",
                              "caption_col=caption_ko"]) == {
        "noise_offset": 0.05, "use_ema": True, "validation_prompts": ["한복", "한옥"], "caption_col": "caption_ko"}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_set_options(["noise_offset"])


def test_changed_settings_ignore_what_does_not_change_training() -> None:
    saved = load_lora_config(None, **REQUIRED).to_dict()
    current = load_lora_config(None, **{**REQUIRED, "out": "elsewhere"}, checkpoints_total_limit=9, rank=2).to_dict()
    assert changed_settings(saved, current) == ["alpha", "rank"]


def test_validation_is_off_unless_asked_and_cheap_when_it_is() -> None:
    config = load_lora_config(None, **REQUIRED)
    assert config.validation_prompts == []  # no grid: a short run spent about 10% of its wall time on one
    assert (config.validation_inference_steps, config.validation_guidance) == (8, 1.0)  # guidance 1: one pass
    assert config.validation_images == 0  # no validation loss: at SD 1.5 size it outweighed a short run
