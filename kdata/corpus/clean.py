"""Decisions on one sentence pair: keep, or reject with a reason; and which split a kept pair is in.

The rules are those of common parallel-corpus cleaning (Moses' ``clean-corpus-n.perl``, and the
Bicleaner hard rules, Ramírez-Sánchez et al., EAMT 2020): drop empty sides, untranslated pairs (both
sides the same), a side in the wrong language, and pairs whose lengths are too far apart to be
translations of each other; then keep one copy of each pair.

A side with a control character (NUL and the other C0 codes but tab, line feed and carriage return,
which normalisation turns into spaces) is rejected, not stripped: no sentence contains one, and where one
appears the text is damaged (UTF-16 read as UTF-8 puts a NUL after every ASCII letter; binary pasted
into a cell), so a stripped copy would keep a damaged sentence and hide the damage. Tokenizers and C
libraries also end a string at NUL.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from kdata.textnorm import script_counts

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class CleanRules:
    # English takes about three letters per Hangul syllable: the 301 bundled pairs run from 1.8 to 5.5
    # (median 2.8) non-space English characters per non-space Korean character. Moses allows a ratio of
    # 9 on tokens; these bounds, wider than the bundled range on both sides, catch a sentence paired
    # with a fragment or with a paragraph, not a loose translation.
    min_length_ratio: float = 0.8
    max_length_ratio: float = 8.0
    min_hangul_share: float = 0.5  # of the Korean side's letters (see kdata.textnorm.detect_language)
    min_latin_share: float = 0.9  # of the English side's letters: an untranslated Hangul phrase fails it


def pair_key(ko: str, en: str) -> str:
    """The identity of a pair for duplicates and the split: normalised text, case-folded, both sides."""
    return hashlib.sha256(f"{ko.casefold()}\t{en.casefold()}".encode()).hexdigest()


def length_ratio(ko: str, en: str) -> float:
    """English letters per Korean character, spaces left out of both."""
    ko_chars = len(ko.replace(" ", ""))
    return len(en.replace(" ", "")) / ko_chars if ko_chars else float("inf")


def check_pair(ko: str, en: str, rules: CleanRules) -> str | None:
    """The reason to reject a normalised pair, or ``None`` to keep it. Checks run in a fixed order."""
    if not ko or not en:
        return "empty"
    if _CONTROL.search(ko) or _CONTROL.search(en):
        return "control_character"
    if ko.casefold() == en.casefold():
        return "identical"
    if script_counts(ko).share("hangul") < rules.min_hangul_share:
        return "wrong_script_ko"
    if script_counts(en).share("latin") < rules.min_latin_share:
        return "wrong_script_en"
    ratio = length_ratio(ko, en)
    if not rules.min_length_ratio <= ratio <= rules.max_length_ratio:
        return f"length_ratio={ratio:.2f}"
    return None


def split_of(key: str, val_fraction: float) -> str:
    """``validation`` for a fixed ``val_fraction`` of pair keys, ``train`` for the rest.

    Hashing the pair (not drawing at random) makes the split the same on every run, whatever the order
    or grouping of the input files, and puts every copy of a pair on the same side: no leakage.
    """
    position = int(key[:16], 16) / float(1 << 64)
    return "validation" if position < val_fraction else "train"
