"""Alt-text cleaning and script-based language detection: exact strings, Korean included."""

from __future__ import annotations

import unicodedata

import pytest

from kdata.caption.alt_text import clean_alt_text
from kdata.textnorm import detect_language, normalize_text, script_counts

NFD_BIBIMBAP = unicodedata.normalize("NFD", "그릇에 담긴 비빔밥")


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("&lt;b&gt;한복&lt;/b&gt; 입은 여인 사진", "한복 입은 여인"),  # entities, tags, trailing "사진"
        ("https://example.com/a.jpg 그릇에 담긴 비빔밥", "그릇에 담긴 비빔밥"),  # URL
        ("[사진=연합뉴스] 경복궁 근정전의 겨울 풍경", "경복궁 근정전의 겨울 풍경"),  # news photo credit
        ("(사진 제공: 문화재청) 단청 무늬", "단청 무늬"),
        ("DSC01234 눈 내린 한옥 마을 ⓒ 뉴스1", "눈 내린 한옥 마을"),  # camera file name, copyright
        ("  기와지붕이 있는 한옥 | ", "기와지붕이 있는 한옥"),  # separators at the ends
        ("수묵화 이미지", "수묵화"),
        ("Photo of a hanok with a tiled roof", "a hanok with a tiled roof"),
        ("Tom &amp;amp; Jerry", "Tom & Jerry"),  # double-escaped entity
        ("IMG_2041.JPG", None),
        ("banner-2.png", None),
        ("이미지", None),
        ("사진 1", None),
        ("image", None),
        ("a", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_alt_text(raw: str | None, cleaned: str | None) -> None:
    assert clean_alt_text(raw) == cleaned


def test_decomposed_hangul_is_recomposed_to_nfc() -> None:
    assert NFD_BIBIMBAP != "그릇에 담긴 비빔밥"
    assert clean_alt_text(NFD_BIBIMBAP) == "그릇에 담긴 비빔밥"
    assert normalize_text(f"  {NFD_BIBIMBAP}\n ") == "그릇에 담긴 비빔밥"


def test_too_long_alt_text_is_not_a_caption() -> None:
    assert clean_alt_text("한옥 " * 200, max_chars=300) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("그릇에 담긴 비빔밥", "ko"),
        ("K-pop 공연 포스터", "ko"),  # Hangul 5 of 9 letters
        ("a bowl of bibimbap", "en"),
        ("a hanbok (한복) sleeve", "en"),
        ("2024-01-01", None),
        ("漢字", None),
    ],
)
def test_detect_language_by_script_share(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_script_counts_split_letters_by_script() -> None:
    counts = script_counts("K-pop 공연 2024 四君子")
    assert (counts.hangul, counts.latin, counts.other) == (2, 4, 3)
    assert counts.share("latin") == pytest.approx(4 / 9)
