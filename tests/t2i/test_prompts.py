"""The bundled K-contents prompt set and the prompt-file reader's errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from kdata.errors import ConfigError
from ktrain.t2i.prompts import load_prompts
from tests.t2i.tiny import write_prompts


def test_bundled_set_has_98_prompts_in_seven_categories_each_with_korean_and_english() -> None:
    prompts = load_prompts()
    assert len(prompts) == 98 and len({p.id for p in prompts}) == 98
    assert Counter(p.category for p in prompts) == {c: 14 for c in ("hanbok", "hanok", "ink_painting", "food",
                                                                    "festival", "landscape", "animation")}
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in p.ko) for p in prompts)  # every ko has Hangul
    assert all(p.en.isascii() for p in prompts)
    assert [p.id for p in load_prompts(limit=3)] == ["hanbok-01", "hanbok-02", "hanbok-03"]


@pytest.mark.parametrize(("content", "message"), [
    ('{"id": "a", "category": "c", "en": "a"}\n', "p.jsonl:1: needs non-empty text fields id, category, ko (and en, "
                                                 "when given); missing or empty: ko"),
    ('{"id": "a", "category": "c", "ko": "가", "en": " "}\n', "p.jsonl:1: en must be non-empty text when given (leave "
                                                          "it out for a Korean-only prompt)"),
    ('{"id": "a", "category": "c", "ko": "가", "en": 3}\n', "p.jsonl:1: en must be non-empty text when given"),
    ('{"id": "a", "category": "c", "ko": "가", "en": "a"}\nnot json\n', "p.jsonl:2: not a JSON object"),
    ('{"id": "a", "category": "c", "ko": "가", "en": "a"}\n' * 2, "p.jsonl:2: prompt id 'a' appears twice"),
    ("\n\n", "no prompts in the file"),
])
def test_malformed_prompt_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_prompts(path)
    assert message in str(error.value)


def test_a_prompt_without_en_is_korean_only(tmp_path: Path) -> None:
    from ktrain.t2i.prompts import Prompt, without_english

    path = tmp_path / "ko.jsonl"
    path.write_text('{"id": "a", "category": "c", "ko": " 한옥 "}\n'
                    '{"id": "b", "category": "c", "ko": "비빔밥", "en": null}\n'
                    '{"id": "c", "category": "c", "ko": "탈춤", "en": " mask dance "}\n', encoding="utf-8")
    prompts = load_prompts(path)
    assert prompts == [Prompt("a", "c", "한옥"), Prompt("b", "c", "비빔밥"), Prompt("c", "c", "탈춤", "mask dance")]
    assert [p.id for p in without_english(prompts)] == ["a", "b"]


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--prompts .*nope.jsonl: no such file"):
        load_prompts(tmp_path / "nope.jsonl")
    assert [p.id for p in load_prompts(write_prompts(tmp_path / "ok.jsonl"))] == ["hanok-a", "food-b"]
