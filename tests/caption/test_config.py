"""Caption configs and the template backend: exact captions, and checks that stop a run before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.bundled import bundled_path
from kdata.caption.backends.base import RowItem, short_hash
from kdata.caption.config import caption_config_from_dict, load_caption_config
from kdata.caption.plan import build_backends, plan_for_columns
from kdata.caption.stage import run_caption
from kdata.errors import ConfigError, ManifestSchemaError
from tests.caption.rows import ink_rows

INK_CONFIG = bundled_path("caption/ink-painting.toml")
INK_COLUMNS = ["key", "status", "paper_type", "method", "paper_type_en", "method_en", "caption_ko", "caption_en",
               "alt_text"]


def _captions(config_path: Path, language: str) -> dict[str, tuple[str | None, str | None]]:
    """(text, backend) of the first candidate each row gets from the metadata backends of a config."""
    chain = build_backends(load_caption_config(config_path))[language]
    items = [RowItem(row) for row in ink_rows()]
    out: dict[str, tuple[str | None, str | None]] = {}
    for item in items:
        out[item.row["key"]] = (None, None)
        for backend in chain:
            if backend.source not in ("template", "alt_text"):
                continue
            [candidates] = backend.run([item])
            if candidates:
                out[item.row["key"]] = (candidates[0].text, backend.label)
                break
    return out


def test_shipped_ink_painting_config_gives_exact_korean_captions() -> None:
    assert _captions(INK_CONFIG, "ko") == {
        "ink-1": ("화선지, 백묘법, 대나무를 그린 수묵화", "ko[0]:template"),
        "ink-2": ("순지에 몰골법으로 그린 수묵화", "ko[1]:template"),  # no caption_ko: the second template
        "food-1": ("비빔밥", "ko[2]:alt_text"),  # cleaned alt text
        "hanok-1": (None, None),  # English alt text: left to the translator
        "broken-1": (None, None),
        "blurry-1": ("흐린 사진 속 한옥", "ko[2]:alt_text"),
    }


def test_shipped_ink_painting_config_gives_exact_english_captions() -> None:
    assert _captions(INK_CONFIG, "en") == {
        "ink-1": ("a Korean ink painting of bamboo, baekmyo (ink outline drawing) on hwaseonji (xuan paper)",
                  "en[0]:template"),
        "ink-2": ("a Korean ink painting, molgol (boneless, without outlines) on sunji (pure mulberry hanji)",
                  "en[1]:template"),
        "food-1": (None, None),  # Korean alt text is not an English caption
        "hanok-1": ("a hanok with a tiled roof", "en[2]:alt_text"),
        "broken-1": (None, None),
        "blurry-1": (None, None),
    }


def test_template_provenance_is_its_hash() -> None:
    config = caption_config_from_dict({"ko": [{"backend": "template", "template": "{method}"}]})
    [backend] = build_backends(config)["ko"]
    [[candidate]] = backend.run([RowItem({"method": "구륵법"})])
    assert (candidate.text, candidate.source) == ("구륵법", "template")
    assert candidate.prompt_hash == short_hash("{method}") and candidate.model == f"template:{short_hash('{method}')}"


def test_template_formats_numbers_and_fails_on_a_spec_that_does_not_fit() -> None:
    config = caption_config_from_dict({"en": [{"backend": "template", "template": "{width:03d} px {category}"}]})
    [backend] = build_backends(config)["en"]
    [[ok], [bad]] = backend.run([RowItem({"width": 7, "category": "hanok"}), RowItem({"width": "7", "category": "x"})])
    assert ok.text == "007 px hanok"
    assert bad.text is None and bad.error.startswith("ValueError: ")


def test_a_template_naming_a_missing_column_fails_before_any_work(ink_manifest, tmp_path: Path) -> None:  # noqa: ANN001
    config = tmp_path / "caption.toml"
    config.write_text('[[ko]]\nbackend = "template"\ntemplate = "{paper_type}, {technique}, {caption_ko}"\n'
                      '[[ko]]\nbackend = "translate"\nmodel = "tiny-translator-en-ko"\nsource = "en"\n'
                      '[[en]]\nbackend = "image-to-text"\nmodel = "tiny-captioner"\n', encoding="utf-8")
    with pytest.raises(ManifestSchemaError) as raised:
        run_caption(ink_manifest.path, config, tmp_path / "out")
    message = str(raised.value)
    assert message.startswith("ko[0]:template: template '{paper_type}, {technique}, {caption_ko}' needs column "
                              "'technique', which ")
    assert not (tmp_path / "out").exists()  # nothing was started, no model was loaded


def test_skip_mode_leaves_out_a_template_whose_columns_are_missing() -> None:
    config = caption_config_from_dict({
        "ko": [{"backend": "template", "template": "{paper_type}에 {method}으로 그린 수묵화",
                "on_missing_column": "skip"},
               {"backend": "alt_text"}],
    })
    plan = plan_for_columns(config, ["key", "alt_text"], "m")
    assert plan.skipped == ["ko[0]:template"]
    assert [b.label for b in build_backends(config, skipped=plan.skipped)["ko"]] == ["ko[1]:alt_text"]


def test_translation_without_a_source_once_templates_are_skipped_is_an_error() -> None:
    config = caption_config_from_dict({
        "en": [{"backend": "template", "template": "{caption_en}", "on_missing_column": "skip"}],
        "ko": [{"backend": "translate", "model": "tiny-translator-en-ko", "source": "en"}],
    })
    with pytest.raises(ManifestSchemaError, match=r"ko\[0\]:translate translates from 'en'"):
        plan_for_columns(config, ["key"], "m")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ko": [{"backend": "templte", "template": "{a}"}]},
         "cfg: ko[0]:templte: unknown caption backend 'templte'; "
         "valid names: alt_text, blip, deepl, image-to-text, template, translate, translate-lm, vlm"),
        ({"ko": [{"backend": "template", "template": "{a}", "tempalte": "x"}]},
         "cfg: ko[0]:template: unknown key 'tempalte'; valid keys: on_missing_column, template"),
        ({"ko": [{"backend": "template", "template": "a {} b"}]}, "is not a column name"),
        ({"ko": [{"backend": "template", "template": "plain text"}]}, "names no column"),
        ({"ko": [{"template": "{a}"}]}, "has no 'backend = \"NAME\"'"),
        ({"ko": [{"backend": "translate", "model": "m", "source": "en"}]},
         "cfg: ko[0]:translate translates from 'en', but [[en]] has no backend other than translate"),
        ({"ko": [{"backend": "translate", "model": "m", "source": "ko"}]}, "into the same language"),
        ({"ko": [{"backend": "vlm", "model": "m"}]}, "a vlm backend needs a prompt"),
        ({"ko": [{"backend": "alt_text"}], "collect": "best"}, "cfg: collect = 'best': expected one of first, all"),
        ({"ko": [{"backend": "alt_text"}], "rerank": {"model": "tiny-clip", "languages": ["ja"]}},
         "cfg: rerank.languages[0] = 'ja': expected one of en, ko"),
        ({"ko": {"backend": "alt_text"}}, "'ko' must be an array of tables"),
        ({}, "no backends"),
        ({"ko": [{"backend": "alt_text"}], "colect": "all"}, "unknown key 'colect'"),
    ],
)
def test_bad_configs_are_one_line_errors(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        caption_config_from_dict(data, where="cfg")
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_shipped_configs_load() -> None:
    for path in sorted(bundled_path("caption").glob("*.toml")):
        config = load_caption_config(path)
        assert config.ko and config.en, path


def test_demo_config_captions_ink_paintings_from_the_template_once_ingest_adds_the_columns() -> None:
    demo = bundled_path("caption/demo.toml")
    ko, en = _captions(demo, "ko"), _captions(demo, "en")
    assert ko["ink-1"] == ("화선지에 백묘법으로 그린 수묵화", "ko[0]:template")
    assert ko["ink-2"] == ("순지에 몰골법으로 그린 수묵화", "ko[0]:template")
    assert en["ink-2"] == ("a Korean ink painting, molgol (boneless, without outlines) on sunji (pure mulberry hanji)",
                           "en[0]:template")
    assert ko["food-1"] == ("비빔밥", "ko[1]:alt_text") and en["food-1"] == ("a bowl of bibimbap", "en[1]:template")
