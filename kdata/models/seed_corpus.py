"""The small built-in English/Korean caption text that tiny presets train their tokenizers on."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_SEED_FILE = Path(__file__).with_name("bilingual_seed.txt")


@lru_cache(maxsize=1)
def seed_pairs() -> tuple[tuple[str, str], ...]:
    """(english, korean) pairs from `bilingual_seed.txt`; `#` lines are comments."""
    pairs = []
    for line in _SEED_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        english, korean = line.split("\t")
        pairs.append((english.strip(), korean.strip()))
    return tuple(pairs)


def english_words() -> list[str]:
    """Every distinct English word of the seed captions, sorted so vocabularies built from it are stable."""
    return sorted({word for english, _ in seed_pairs() for word in english.split()})
