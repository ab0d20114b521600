"""``translate-lm``: prompts, the answer cut from the continuation, and the real path on a tiny random Llama."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.caption.backends.base import RowItem, short_hash
from kdata.caption.backends.translate_lm import (
    TranslateLmBackend,
    TranslateLmConfig,
    answer,
    default_prompt,
    fill_prompt,
)
from kdata.caption.config import caption_config_from_dict
from kdata.caption.stage import run_caption
from kdata.errors import ConfigError
from kdata.manifest import open_manifest
from tests.caption.rows import ink_rows
from tests.caption.tiny_causal_lm import CHAT_TEMPLATE, build_tiny_causal_lm
from tests.helpers.manifests import write_rows

TEXTS = ["한복을 입은 여인", "매화를 그린 수묵화가 벽에 걸려 있다", "{중괄호} 속 글"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "tiny-lm", chat_template=CHAT_TEMPLATE)


def _backend(model: Path, **settings: object) -> TranslateLmBackend:
    config = TranslateLmConfig(model=str(model), source="ko", max_new_tokens=8, **settings)  # type: ignore[arg-type]
    backend = TranslateLmBackend(config, "en", "en[1]:translate-lm")
    backend.load()
    return backend


def test_default_prompts_fill_and_answers() -> None:
    assert default_prompt("ko", "en") == "Translate Korean to English: {text}\nEnglish:"
    assert default_prompt("en", "ko") == "Translate English to Korean: {text}\nKorean:"
    assert fill_prompt("K: {text}\nE:", "{method} 속 {text}") == "K: {method} 속 {text}\nE:"
    assert answer("  A woman in hanbok.\nKorean: 한복", "\n") == "A woman in hanbok."
    assert answer(" A woman ### more", "###") == "A woman"
    assert answer(" two\nlines ", "") == "two lines"  # normalised like every caption


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"prompt": "Translate: "}, "prompt must hold {text} once"),
        ({"prompt": "{text} {text}"}, "prompt must hold {text} once"),
        ({"device": "gpu"}, "device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"temperature": 0.7}, "temperature"),
    ],
)
def test_bad_settings_are_one_line_config_errors(table: dict, message: str) -> None:
    chains = {"ko": [{"backend": "alt_text"}],
              "en": [{"backend": "translate-lm", "model": "org/model", "source": "ko", **table}]}
    with pytest.raises(ConfigError, match="cfg: en\\[0\\]:translate-lm") as raised:
        caption_config_from_dict(chains, where="cfg")
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_tiny_causal_lm_translates_a_batch_as_it_does_each_row(tiny_lm: Path) -> None:
    backend = _backend(tiny_lm, batch_size=8)
    assert backend.model.device.type == "cpu" and backend.tokenizer.padding_side == "left"  # device "auto", no GPU
    items = [RowItem({"key": str(i)}, source_texts={"ko": text}) for i, text in enumerate(TEXTS)]
    out = backend.run([*items[:2], RowItem({"key": "none"}), items[2]])
    assert out[2] == []  # nothing to translate from
    candidates = [c for cands in out for c in cands]
    assert len(candidates) == 3
    for candidate in candidates:
        assert (candidate.source, candidate.model, candidate.error) == ("translation", str(tiny_lm), None)
        assert candidate.prompt_hash == short_hash("Translate Korean to English: {text}\nEnglish:")
        assert candidate.text and "\n" not in candidate.text and candidate.text == candidate.text.strip()
    # Left padding and the attention mask make a batch generate what each prompt generates alone.
    assert [c.text for c in candidates] == [backend._translate([text])[0] for text in TEXTS]


def test_chat_prompts_go_through_the_tokenizer_template(tiny_lm: Path) -> None:
    backend = _backend(tiny_lm, chat=True, prompt="한국어를 영어로 번역하세요: {text}")
    assert backend.prompts(["한옥"]) == ["<s>user: 한국어를 영어로 번역하세요: 한옥\nassistant:"]
    assert backend.prompt_hash != _backend(tiny_lm, prompt="한국어를 영어로 번역하세요: {text}").prompt_hash
    [[candidate]] = backend.run([RowItem({"key": "a"}, source_texts={"ko": "한옥"})])
    assert candidate.ok


def test_caption_stage_translates_rows_the_templates_left(tiny_lm: Path, tmp_path: Path) -> None:
    chains = {
        "ko": [{"backend": "template", "template": "{paper_type}에 {method}으로 그린 수묵화"}],
        "en": [{"backend": "template", "template": "{caption_en}"},
               {"backend": "translate-lm", "model": str(tiny_lm), "source": "ko", "max_new_tokens": 6}],
    }
    manifest = write_rows(tmp_path / "in", ink_rows())
    result = run_caption(manifest.path, caption_config_from_dict(chains), tmp_path / "out")
    rows = {row["key"]: row for row in open_manifest(tmp_path / "out").read_table().to_pylist()}
    assert rows["ink-1"]["caption_en_source"] == "template"
    translated = rows["ink-2"]  # no English caption of its own: translated from "순지에 몰골법으로 그린 수묵화"
    assert (translated["caption_en_source"], translated["caption_en_model"]) == ("translation", str(tiny_lm))
    assert translated["caption_en_prompt_hash"] == short_hash("Translate Korean to English: {text}\nEnglish:")
    assert result.stats["caption_en/translation"] == 1
