"""Text checks: Hangul ratio, length and boilerplate alt text, with exact reasons."""

from __future__ import annotations

import pytest

from kdata.filter.config import parse_rules
from kdata.filter.registry import FILTERS
from kdata.filter.stage import apply_rules
from kdata.filter.text import hangul_ratio, is_boilerplate


@pytest.mark.parametrize(("text", "ratio"), [("한옥", 1.0), ("한복 hanbok", 0.25), ("2024년 사진!", 1.0),
                                             ("a bowl of rice", 0.0), ("1234 ...", 0.0)])
def test_hangul_ratio_counts_letters_only(text: str, ratio: float) -> None:
    assert hangul_ratio(text) == pytest.approx(ratio)


@pytest.mark.parametrize("text", ["IMG_0042.JPG", "DSC01234", "https://example.com/a.png", "photo.jpeg",
                                  "image", "Image 3", "사진", "이미지 없음", "www.site.kr/x", "KakaoTalk_2024"])
def test_boilerplate_alt_texts(text: str) -> None:
    assert is_boilerplate(text)


@pytest.mark.parametrize("text", ["한옥 마당의 장독대", "a photo of a cat on a mat", "사진관 앞의 골목"])
def test_real_captions_are_not_boilerplate(text: str) -> None:
    assert not is_boilerplate(text)


def test_text_rules_give_exact_reasons_per_row() -> None:
    rules = [(r, FILTERS.get(r.filter)) for r in parse_rules([
        {"filter": "boilerplate_text"},
        {"filter": "text_length", "min_chars": 2, "max_chars": 20},
        {"filter": "caption_language", "min_hangul_ratio": 0.5},
    ])]
    rows = {"ko": "기와지붕이 있는 한옥", "en": "a tiled roof", "file": "IMG_2231.jpg", "long": "한" * 21,
            "short": "집", "none": None, "blank": "   "}
    verdicts = {k: apply_rules({"alt_text": v}, rules)[0] for k, v in rows.items()}
    assert verdicts == {"ko": None, "en": "wrong_language", "file": "boilerplate_text", "long": "text_too_long",
                        "short": "text_too_short", "none": "no_text", "blank": "no_text"}


def test_english_only_mode_with_max_hangul_ratio() -> None:
    rules = [(r, FILTERS.get(r.filter)) for r in parse_rules([
        {"filter": "caption_language", "column": "caption_en", "min_hangul_ratio": 0.0, "max_hangul_ratio": 0.0}])]
    assert apply_rules({"caption_en": "a hanok"}, rules)[0] is None
    assert apply_rules({"caption_en": "한옥 house"}, rules)[0] == "wrong_language"
