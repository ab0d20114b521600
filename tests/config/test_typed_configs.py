"""Every config's values are checked by type when it is built: a typo, a wrong type or an out-of-range value is a
one-line ConfigError naming the dotted key, what was given and what is allowed, before anything loads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kdata.config import checked
from kdata.errors import ConfigError
from tests.helpers.cli import kcli
from tests.test_config_layers import BY_NAME

# (config, key, value given, the message's tail). The value goes through --set as TOML text and through the
# file as a TOML value: both reach the one check in kdata.config.
CASES = [
    # bool for int, list of int for list[str], a string outside a Literal, out of range
    ("lora", "rank", True, "rank = True: expected int >= 1"),
    ("lora", "target_modules", [1, 2], "target_modules[0] = 1: expected str"),
    ("lora", "lr_scheduler", "cosin", "lr_scheduler = 'cosin': expected one of constant, constant_with_warmup, "
                                      "cosine, linear"),
    ("lora", "mixed_precision", "fp8", "mixed_precision = 'fp8': expected one of auto, no, fp16, bf16"),
    ("lora", "lora_dropout", 1.5, "lora_dropout = 1.5: expected float >= 0 and < 1"),
    ("encoder", "max_steps", True, "max_steps = True: expected int >= 1"),
    ("encoder", "eval_timesteps", ["a"], "eval_timesteps[0] = 'a': expected int >= 0"),
    ("encoder", "teacher_cache", "ram", "teacher_cache = 'ram': expected one of auto, memory, disk"),
    ("encoder", "warmup_fraction", 1.0, "warmup_fraction = 1.0: expected float >= 0 and < 1"),
    ("ingest-urls", "image.image_size", False, "image.image_size = False: expected int >= 1"),
    ("ingest-urls", "fetch.optout_directives", [1], "fetch.optout_directives[0] = 1: expected str"),
    ("ingest-urls", "store", "s3", "store = 's3': expected one of inline, blobs"),
    ("ingest-urls", "image.encode_quality", 101, "image.encode_quality = 101: expected int >= 1 and <= 100"),
    ("ingest-folder", "threads", True, "threads = True: expected int >= 1"),
    ("ingest-folder", "file_col", 3, "file_col = 3: expected str"),
    ("ingest-folder", "image.resize_mode", "stretch", "image.resize_mode = 'stretch': expected one of no, keep_ratio, "
                                                     "keep_ratio_largest, center_crop, border"),
    ("ingest-folder", "shard_size", 0, "shard_size = 0: expected int >= 1"),
    ("ingest-crop", "crops", True, "crops = True: expected int >= 1"),
    ("ingest-crop", "encode_format", "gif", "encode_format = 'gif': expected one of jpeg, png, webp"),
    ("ingest-crop", "encode_quality", 0, "encode_quality = 0: expected int >= 1 and <= 100"),
    ("crawl", "max_depth", True, "max_depth = True: expected int >= 0"),
    ("crawl", "include", [1, 2], "include[0] = 1: expected str"),
    ("crawl", "store", "s3", "store = 's3': expected one of inline, blobs"),
    ("crawl", "threads", 0, "threads = 0: expected int >= 1"),
    ("publish", "sample_grid", True, "sample_grid = True: expected int >= 0"),
    ("publish", "pretty_name", 5, "pretty_name = 5: expected str"),
    ("publish", "keep_exif", 1, "keep_exif = 1: expected bool"),
    ("publish", "shard_size_mb", 0, "shard_size_mb = 0: expected float > 0"),
    ("filter", "clip.batch_size", True, "clip.batch_size = True: expected int >= 1"),
    ("filter", "clip.text_columns", [1, 2], "clip.text_columns[0] = 1: expected str"),
    ("filter", "dedup.exact_bytes", "yes", "dedup.exact_bytes = 'yes': expected bool"),
    ("filter", "dedup.embedding_min_cosine", 2.0, "dedup.embedding_min_cosine = 2.0: expected float >= 0 and <= 1"),
    ("caption", "rerank.batch_size", True, "rerank.batch_size = True: expected int >= 1"),
    ("caption", "rerank.languages", [1], "rerank.languages[0] = 1: expected one of en, ko"),
    ("caption", "collect", "best", "collect = 'best': expected one of first, all"),
    ("caption", "rerank.batch_size", 0, "rerank.batch_size = 0: expected int >= 1"),
]
NEEDS = {"caption": ["rerank.model=tiny-clip"]}  # rerank's one required key, so the case is about its own key


def _toml(value: object) -> str:
    return "true" if value is True else "false" if value is False else json.dumps(value)


@pytest.mark.parametrize(("name", "key", "value", "tail"), CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
@pytest.mark.parametrize("source", ["--set", "file"])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path: Path, name: str, key: str, value: object, tail: str,
                                                source: str) -> None:
    loader = BY_NAME[name]
    table, _, leaf = key.rpartition(".")
    if source == "--set":
        sets, text = [*NEEDS.get(name, []), f"{key}={_toml(value)}"], ""
    else:
        sets, text = NEEDS.get(name, []), (f"[{table}]\n" if table else "") + f"{leaf} = {_toml(value)}\n"
    with pytest.raises(ConfigError) as raised:
        loader.load(tmp_path, text, sets=sets)
    message = str(raised.value)
    assert "\n" not in message and message.endswith(tail), message


TYPOS = [(name, "lr_schedular") for name in sorted(BY_NAME) if name != "filter"] + \
    [(name, f"{loader.table}.lr_schedular") for name, loader in sorted(BY_NAME.items()) if loader.table]


@pytest.mark.parametrize(("name", "key"), TYPOS, ids=[f"{name}-{key}" for name, key in TYPOS])
def test_a_typo_is_one_line_naming_the_dotted_key(tmp_path: Path, name: str, key: str) -> None:
    table, _, leaf = key.rpartition(".")
    with pytest.raises(ConfigError) as raised:
        BY_NAME[name].load(tmp_path, (f"[{table}]\n" if table else "") + f"{leaf} = 1\n")
    message = str(raised.value)
    assert "\n" not in message and f"unknown key {key!r}; valid keys: " in message, message


@pytest.mark.parametrize(("value", "expected"), [("1e-4", 1e-4), ('"1e-4"', 1e-4), ("3", 3.0)])
def test_a_float_setting_takes_a_number_or_its_text(tmp_path: Path, value: str, expected: float) -> None:
    config = BY_NAME["lora"].load(tmp_path, f"learning_rate = {value}\n")
    assert config.learning_rate == expected and isinstance(config.learning_rate, float)


def test_an_int_setting_refuses_a_float_and_text(tmp_path: Path) -> None:
    for value in ("4.0", '"4"'):
        with pytest.raises(ConfigError, match=r"rank = .*: expected int >= 1$"):
            BY_NAME["lora"].load(tmp_path, f"rank = {value}\n")


@pytest.mark.parametrize(
    ("command", "setting", "message"),
    [(["train", "lora", "--manifest", "none", "--out", "o"], "lr_scheduler=cosin",
      "lora config: lr_scheduler = 'cosin': expected one of constant, constant_with_warmup, cosine, linear"),
     (["train", "encoder", "--pairs", "none", "--out", "o"], "mixed_precision=fp8",
      "config: mixed_precision = 'fp8': expected one of auto, no, fp16, bf16")],
    ids=["lora", "encoder"],
)
def test_the_command_line_stops_at_the_config_before_any_model(tmp_path: Path, command: list[str], setting: str,
                                                               message: str) -> None:
    # The base model does not exist: had anything tried to load it, the error would say so instead.
    missing = str(tmp_path / "no-such-model")
    base = ["--base", missing] if command[1] == "lora" else ["--teacher", missing]
    done = kcli(*command, *base, "--set", setting, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {message}"]


def _generate(**values: object) -> object:
    from ktrain.lora.generate import GenerateConfig

    return checked(GenerateConfig, "generate", **{"prompts": ["한옥"], "base": "tiny-sd", "out": "o", **values})


def _eval_t2i(**values: object) -> object:
    from ktrain.t2i.evaluate import T2IEvalConfig

    return checked(T2IEvalConfig, "eval t2i", **{"base": "tiny-sd", "out": "o", **values})


def _corpus(**values: object) -> object:
    from kdata.corpus.build import CorpusConfig

    return checked(CorpusConfig, "corpus build", **values)


# Configs the commands build from named options in code: the same check, through kdata.config.checked.
BUILT_IN_CODE = [
    (_generate, {"steps": True}, "generate: steps = True: expected int >= 1"),
    (_generate, {"prompts": [1]}, "generate: prompts[0] = 1: expected str"),
    (_generate, {"height": 0}, "generate: height = 0: expected int >= 1"),
    (_generate, {"guidance": "high"}, "generate: guidance = 'high': expected float"),
    (_generate, {"stepz": 3}, "generate: unknown key 'stepz'; valid keys: "),
    (_eval_t2i, {"warmup": -1}, "eval t2i: warmup = -1: expected int >= 0"),
    (_eval_t2i, {"pipelines": ["ko-encoder", 2]}, "eval t2i: pipelines[1] = 2: expected str"),
    (_eval_t2i, {"limit": False}, "eval t2i: limit = False: expected int >= 1"),
    (_corpus, {"val_fraction": True}, "corpus build: val_fraction = True: expected float >= 0 and < 1"),
    (_corpus, {"val_fraction": 1.0}, "corpus build: val_fraction = 1.0: expected float >= 0 and < 1"),
]


@pytest.mark.parametrize(("build", "values", "message"), BUILT_IN_CODE,
                         ids=[f"{b.__name__[1:]}-{next(iter(v))}" for b, v, _ in BUILT_IN_CODE])
def test_configs_built_in_code_are_checked_alike(build: Callable[..., object], values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build(**values)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value), str(raised.value)
