"""The filter config: shipped configs load, mistakes are one-line errors that say what is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.errors import ConfigError
from kdata.filter.config import DEFAULT_CONFIG, load_filter_config, parse_filter_config
from tests.helpers.cli import REPO


def test_default_and_shipped_configs_load() -> None:
    default = load_filter_config()
    assert default.source == str(DEFAULT_CONFIG) and not default.uses_clip
    scoped = {r.name: r.unless for r in default.rules if r.unless}
    assert scoped == {n: {"category": ["ink_painting"]} for n in ("too_light", "low_information", "grayscale")}
    example = load_filter_config(REPO / "manifests" / "filters" / "example.toml")
    assert example.clip.model == "ViT-L-14:openai" and example.dedup.embedding_min_cosine == 0.95
    assert [r.params.top_percent for r in example.rules if r.filter == "clip_score"] == [30]
    demo = load_filter_config(REPO / "manifests" / "filters" / "demo.toml")
    assert demo.clip.model == "tiny-open-clip" and demo.safety.scorer == "nudenet"


@pytest.mark.parametrize(("data", "message"), [
    ({"rules": [{"filter": "sharpness"}]}, "unknown filter 'sharpness'; valid names: aesthetic_score, aspect_ratio"),
    ({"rules": [{"filter": "blur", "min": 3}]}, "unknown key 'min'; valid keys: min_variance"),
    ({"rules": [{"filter": "blur", "unles": {"category": "x"}}]}, "rule keys: filter, name, when, unless"),
    ({"rules": [{"filter": "blur", "when": "ink"}]}, "rules[1].when: expected a table"),
    ({"rules": [{"filter": "blur"}, {"filter": "blur"}]}, "two rules are named 'blur'"),
    ({"rules": [{"filter": "clip_score", "min": 0.28}]}, "needs CLIP: set [clip] model"),
    ({"clip": {"model": "tiny-clip"}, "rules": [{"filter": "clip_score", "min": 0.2, "top_percent": 30}]},
     "set exactly one of 'min'"),
    ({"rules": [{"filter": "aesthetic_score", "min": 5}]}, "needs [aesthetic] weights"),
    ({"dedup": {"embedding_min_cosine": 0.9}}, "embedding_min_cosine needs [clip]"),
    ({"clip": {"model": "x", "backend": "jax"}}, "unknown CLIP backend 'jax'; valid names: hf, open_clip"),
    ({"safety": {"scorer": "magic"}}, "unknown safety scorer 'magic'; valid names: clip-nsfw-head, nudenet"),
    ({"filters": []}, "unknown section 'filters'"),
])
def test_config_mistakes_are_clear_errors(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_filter_config(data)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_scope_values_may_be_lists_and_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "head.pth").write_bytes(b"")
    (tmp_path / "f.toml").write_text(
        '[clip]\nmodel = "tiny-open-clip"\n[aesthetic]\nweights = "head.pth"\n'
        '[[rules]]\nfilter = "grayscale"\nwhen = { category = ["photo", "scan"] }\n', encoding="utf-8")
    config = load_filter_config(tmp_path / "f.toml")
    assert config.aesthetic.weights == str(tmp_path / "head.pth")
    rule = config.rules[0]
    assert [rule.applies({"category": c}) for c in ("photo", "scan", "ink_painting", None)] == [True, True, False,
                                                                                              False]
