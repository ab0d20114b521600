"""One precedence for every config loader: defaults < --config file < named options < --set KEY=VALUE."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kdata.caption.config import load_caption_config
from kdata.config import parse_set_options
from kdata.crawl.config import crawl_config
from kdata.errors import ConfigError
from kdata.filter.config import load_filter_config
from kdata.ingest.settings import crop_config, folder_config, url_config
from kdata.publish.config import publish_config
from ktrain.encoder.config import load_train_config
from ktrain.lora.config import load_lora_config

# (tmp_path, file, named options, --set items) -> config
Build = Callable[[Path, Path, dict[str, Any], list[str]], Any]


def _listing(tmp_path: Path) -> Path:
    listing = tmp_path / "list.csv"
    listing.write_text("url\nhttp://example.org/a.jpg\n")
    return listing


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir(exist_ok=True)
    return root


@dataclass(frozen=True)
class Loader:
    name: str
    build: Build
    key: str  # dotted, as the file's table and --set write it
    named_key: str | None  # the named option for it; None: the command has none
    values: tuple[Any, Any, Any, Any]  # default, in the file, as a named option, by --set
    table: str | None = None  # a table of the config, for the nested typo
    extra: str = ""  # what a valid file needs besides the key

    def load(self, tmp_path: Path, file_text: str = "", named: dict[str, Any] | None = None,
             sets: list[str] | None = None) -> Any:
        file = tmp_path / f"{self.name}.toml"
        file.write_text(file_text + self.extra, encoding="utf-8")
        return self.build(tmp_path, file, named or {}, sets or [])

    def get(self, config: Any) -> Any:
        return functools.reduce(getattr, self.key.split("."), config)


def _assignment(key: str, value: Any) -> str:
    table, _, leaf = key.rpartition(".")
    return (f"[{table}]\n" if table else "") + f"{leaf} = {json.dumps(value)}\n"


LORA_REQUIRED = {"manifest": "m", "out": "o", "base": "tiny-sd"}
ENCODER_REQUIRED = {"pairs": "p", "teacher": "tiny-sd", "out": "o"}
LOADERS = [
    Loader("lora", lambda tmp, file, named, sets: load_lora_config(file, sets=sets, **LORA_REQUIRED, **named),
           "rank", "rank", (4, 16, 8, 2)),
    Loader("encoder", lambda tmp, file, named, sets: load_train_config(file, sets=sets, **ENCODER_REQUIRED, **named),
           "max_steps", "max_steps", (2000, 7, 9, 11)),
    # --image-size is a flat option routed into the [image] table.
    Loader("ingest-urls", lambda tmp, file, named, sets: url_config(_listing(tmp), named, file, sets),
           "image.image_size", "image_size", (256, 999, 32, 64), table="image"),
    Loader("ingest-folder", lambda tmp, file, named, sets: folder_config(_folder(tmp), named, file, sets),
           "threads", "threads", (4, 2, 3, 5), table="image"),
    Loader("ingest-crop", lambda tmp, file, named, sets: crop_config(named, file, sets), "seed", "seed", (0, 1, 2, 3)),
    Loader("crawl", lambda tmp, file, named, sets: crawl_config(["https://a.test/"], named, file, sets),
           "max_depth", "max_depth", (3, 5, 1, 2), table="image"),
    Loader("publish", lambda tmp, file, named, sets: publish_config(named, file, sets),
           "sample_grid", "sample_grid", (16, 4, 8, 0)),
    Loader("filter", lambda tmp, file, named, sets: load_filter_config(file, sets),
           "dedup.phash_max_distance", None, (4, 2, None, 6), table="clip"),
    Loader("caption", lambda tmp, file, named, sets: load_caption_config(file, sets),
           "collect", None, ("first", "all", None, "first"), table="rerank", extra='[[ko]]\nbackend = "alt_text"\n'),
]
BY_NAME = {loader.name: loader for loader in LOADERS}


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.name)
def test_each_layer_beats_the_one_before(tmp_path: Path, loader: Loader) -> None:
    default, in_file, as_named, by_set = loader.values
    in_the_file = _assignment(loader.key, in_file)
    named = {loader.named_key: as_named} if loader.named_key else {}
    unset = {loader.named_key: None} if loader.named_key else {}
    sets = [f"{loader.key}={json.dumps(by_set)}"]
    steps = [
        ("default", "", {}, [], default),
        ("file beats default", in_the_file, {}, [], in_file),
        ("an unset named option is no layer", in_the_file, unset, [], in_file),
        ("named beats file", in_the_file, named, [], as_named if named else in_file),
        ("--set beats named and file", in_the_file, named, sets, by_set),
    ]
    for step, file_text, options, items, expected in steps:
        assert loader.get(loader.load(tmp_path, file_text, options, items)) == expected, step


@pytest.mark.parametrize(
    ("name", "file_text", "named", "sets", "keys", "expected"),
    [("ingest-urls", "[image]\nencode_quality = 80\nimage_size = 999\n", {"image_size": 32},
      ["image.resize_mode=center_crop"], ("image.encode_quality", "image.image_size", "image.resize_mode"),
      (80, 32, "center_crop")),
     ("ingest-folder", "[image]\nencode_quality = 80\n", {}, ["image.image_size=64"],
      ("image.encode_quality", "image.image_size"), (80, 64)),
     ("crawl", '[image]\nresize_mode = "keep_ratio"\nimage_size = 128\n', {}, ["image.image_size=64"],
      ("image.resize_mode", "image.image_size"), ("keep_ratio", 64)),
     ("filter", "[dedup]\nphash_max_distance = 2\ncolor_max_distance = 3.0\n", {}, ["dedup.phash_max_distance=6"],
      ("dedup.phash_max_distance", "dedup.color_max_distance"), (6, 3.0)),
     ("caption", '[rerank]\nmodel = "tiny-clip"\nbatch_size = 4\n', {}, ["rerank.batch_size=8"],
      ("rerank.model", "rerank.batch_size"), ("tiny-clip", 8)),
     ("caption", "", {}, ["rerank.model=tiny-clip"], ("rerank.model", "rerank.batch_size"), ("tiny-clip", 32))],
)
def test_a_dotted_set_changes_one_key_of_a_table(tmp_path: Path, name: str, file_text: str, named: dict,
                                                  sets: list[str], keys: tuple[str, ...], expected: tuple) -> None:
    config = BY_NAME[name].load(tmp_path, file_text, named, sets)
    assert tuple(functools.reduce(getattr, key.split("."), config) for key in keys) == expected


def _typos() -> list[Any]:
    cases = []
    for loader in LOADERS:
        for key in ["bogus_key", *([f"{loader.table}.bogus_key"] if loader.table else [])]:
            for source in ("file", "--set"):
                cases.append(pytest.param(loader, key, source, id=f"{loader.name}-{key}-{source}"))
    return cases


@pytest.mark.parametrize(("loader", "key", "source"), _typos())
def test_an_unknown_key_is_a_one_line_error_that_names_it(tmp_path: Path, loader: Loader, key: str,
                                                          source: str) -> None:
    with pytest.raises(ConfigError) as raised:
        if source == "file":
            loader.load(tmp_path, _assignment(key, 1))
        else:
            loader.load(tmp_path, sets=[f"{key}=1"])
    message = str(raised.value)
    assert "\n" not in message and "bogus_key'" in message and "valid" in message, message
    if source == "--set":  # named as typed, and as coming from --set rather than the file
        assert message.startswith(f"--set: unknown key {key!r}; valid keys"), message


def test_an_unknown_set_key_lists_the_keys_of_its_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--set: unknown key 'clip\.modle'; valid keys in \[clip\]: backend, "):
        BY_NAME["filter"].load(tmp_path, sets=["clip.modle=ViT-B-32"])


@pytest.mark.parametrize("item", ["max_steps", "=3", " =3", ".model=x", "clip..model=x", "clip.=x"])
def test_a_malformed_set_item_is_named(item: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_set_options([item])
    assert str(raised.value).startswith(f"--set {item!r}: expected KEY=VALUE")


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.name)
def test_every_loader_refuses_a_malformed_set_item(tmp_path: Path, loader: Loader) -> None:
    with pytest.raises(ConfigError, match="--set 'max_steps': expected KEY=VALUE"):
        loader.load(tmp_path, sets=["max_steps"])


@pytest.mark.parametrize(
    ("item", "expected"),
    [("a=0", {"a": 0}), ("a=1e-4", {"a": 1e-4}), ("a=true", {"a": True}), ("a=[1, 2]", {"a": [1, 2]}),
     ('a="x y"', {"a": "x y"}), ("a=ViT-B-32", {"a": "ViT-B-32"}), ("a = tiny-sd ", {"a": "tiny-sd"}),
     ("a=", {"a": ""}), ("a=2024-05-01", {"a": "2024-05-01"}), ("a=x=y", {"a": "x=y"}),
     ("clip.model=ViT-B-32", {"clip": {"model": "ViT-B-32"}})],
)
def test_set_values_are_toml_or_else_the_text(item: str, expected: dict) -> None:
    assert parse_set_options([item]) == expected


def test_set_items_merge_tables_and_the_later_wins() -> None:
    items = ["clip.model=a", "clip.batch_size=8", "seed=1", "clip.model=b", "seed=2"]
    assert parse_set_options(items) == {"clip": {"model": "b", "batch_size": 8}, "seed": 2}
    assert parse_set_options(None) == {}
