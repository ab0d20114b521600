"""One Hangul detector (kdata.textnorm), used wherever kcli tells Korean text apart."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kdata.crawl.encoding import hangul_share
from kdata.filter.text import hangul_ratio as filter_hangul_ratio
from kdata.textnorm import HANGUL_RANGES, HANGUL_RE2, count_hangul, hangul_ratio, has_hangul

REPO = Path(__file__).resolve().parents[1]
# One sample per block, its first and last code point, and characters just outside.
INSIDE = [chr(c) for first, last in HANGUL_RANGES for c in (first, last)] + ["한", "ㄱ", "ᄀ", "ﾡ"]
OUTSIDE = ["a", "漢", "カ", "·", "1", " ", chr(0xABFF), chr(0xD7A4), chr(0x10FF), chr(0x3190)]


@pytest.mark.parametrize("char", INSIDE)
def test_each_hangul_block_counts(char: str) -> None:
    assert has_hangul(f"x{char}y") and count_hangul(char * 3) == 3


@pytest.mark.parametrize("char", OUTSIDE)
def test_neighbours_of_hangul_do_not_count(char: str) -> None:
    assert not has_hangul(char) and count_hangul(char) == 0


def test_the_arrow_regex_agrees_with_the_python_one() -> None:
    texts = INSIDE + OUTSIDE + ["K-pop 공연", "plain"]
    found = pc.match_substring_regex(pa.array(texts), HANGUL_RE2).to_pylist()
    assert found == [has_hangul(t) for t in texts]


@pytest.mark.parametrize(("text", "ratio"), [("한복 hanbok", 0.25), ("2024년 사진!", 1.0), ("...", 0.0),
                                             ("ﾡﾢ ab", 0.5)])
def test_ratio_is_over_letters_and_the_filter_uses_it(text: str, ratio: float) -> None:
    assert hangul_ratio(text) == pytest.approx(ratio) and filter_hangul_ratio(text) == hangul_ratio(text)


def test_the_crawler_share_counts_among_non_ascii_characters() -> None:
    assert hangul_share("abc 한국어 漢字") == pytest.approx(3 / 5) and hangul_share("ascii only") == 0.0


def test_no_other_module_defines_hangul_ranges() -> None:
    pattern = re.compile(r"\\u(ac00|1100|3130)|\\x\{(AC00|1100|3130)\}|가-힣|0xAC00", re.IGNORECASE)
    sources = [p for package in ("kdata", "ktrain", "kcli") for p in (REPO / package).rglob("*.py")]
    offenders = [str(p.relative_to(REPO)) for p in sources
                 if p.name != "textnorm.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
