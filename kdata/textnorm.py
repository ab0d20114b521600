"""Text normalisation and script measures shared by captioning and the parallel corpus.

Korean text reaches kcli in two Unicode forms: precomposed syllables (NFC, what keyboards produce) and
decomposed jamo sequences (NFD, what macOS file names and some web pages carry). They look identical but
compare, hash and tokenize differently, so every text is normalised to NFC before it is compared, stored
or hashed (Unicode Standard Annex #15).

The language of a short text is read from its script: Korean is written in Hangul, English in Latin
letters. A ratio over letters is robust to digits, punctuation and the odd Latin brand name inside a
Korean sentence, and needs no model (short captions are where statistical detectors are least reliable).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SPACES = re.compile(r"\s+")
# The one definition of Hangul in kcli, as (first, last) code points of Unicode blocks: syllables, Jamo,
# compatibility Jamo, Jamo Extended-A and -B, and the halfwidth forms (legacy CJK encodings' Hangul).
HANGUL_RANGES = ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF),
                 (0xFFA0, 0xFFDC))
_HANGUL = re.compile("[" + "".join(f"{chr(first)}-{chr(last)}" for first, last in HANGUL_RANGES) + "]")
# The same class in RE2 syntax, for pyarrow.compute's regex kernels (a column scanned in C, not row by row).
HANGUL_RE2 = "[" + "".join(f"\\x{{{first:04X}}}-\\x{{{last:04X}}}" for first, last in HANGUL_RANGES) + "]"
_LATIN = re.compile("[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")  # any Unicode letter: \w without digits and the underscore


def normalize_text(text: str | None) -> str:
    """NFC, whitespace runs collapsed to one space, ends stripped; ``None`` becomes ``""``."""
    if text is None:
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", str(text))).strip()


@dataclass(frozen=True)
class ScriptCounts:
    """Letters of a text by script; ``other`` counts letters of any other script (Hanja, kana, ...)."""

    hangul: int
    latin: int
    other: int

    @property
    def letters(self) -> int:
        return self.hangul + self.latin + self.other

    def share(self, script: str) -> float:
        """The fraction of letters in ``script`` ("hangul" or "latin"); 0.0 for a text without letters."""
        return getattr(self, script) / self.letters if self.letters else 0.0


def script_counts(text: str) -> ScriptCounts:
    # Regular expressions scan in C: a per-character Python loop made this the corpus build's hot spot.
    hangul, latin = len(_HANGUL.findall(text)), len(_LATIN.findall(text))
    return ScriptCounts(hangul, latin, max(len(_LETTER.findall(text)) - hangul - latin, 0))


def has_hangul(text: str) -> bool:
    """Whether ``text`` holds any Hangul character."""
    return _HANGUL.search(text) is not None


def count_hangul(text: str) -> int:
    return len(_HANGUL.findall(text))


def hangul_ratio(text: str) -> float:
    """Share of letters that are Hangul; digits, spaces and punctuation do not count (0.0 without letters)."""
    return script_counts(text).share("hangul")


def detect_language(text: str, min_share: float = 0.5) -> str | None:
    """``"ko"`` or ``"en"`` when Hangul or Latin letters make up at least ``min_share`` of the letters.

    ``None`` for text without letters or with no dominant script. The default of one half accepts
    "K-pop 공연 포스터" as Korean (Hangul 5 of 9 letters) and "a hanbok (한복) sleeve" as English.
    """
    counts = script_counts(text)
    if not counts.letters:
        return None
    if counts.share("hangul") >= min_share and counts.hangul >= counts.latin:
        return "ko"
    if counts.share("latin") >= min_share and counts.latin > counts.hangul:
        return "en"
    return None
