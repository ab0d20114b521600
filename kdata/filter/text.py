"""Text checks on a row's caption or alt text: language (Hangul ratio), length, boilerplate.

Alt text scraped from the web is often a file name (``IMG_0042.jpg``), a URL, or one generic word
(``image``, ``사진``); LAION-5B dropped such captions for the same reason (Schuhmann et al., 2022, §3.1:
short and template-like alt texts). Each check names the column it reads; a missing text is a reason of
its own (``no_text``), so a row never passes a text check by having no text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdata.filter.registry import NEEDS_TEXT, register_filter
from kdata.textnorm import hangul_ratio

_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_FILE_NAME = re.compile(r"^[\w\-. ()]+\.(jpe?g|png|gif|webp|bmp|tiff?|heic|avif)$", re.IGNORECASE)
_CAMERA_NAME = re.compile(r"^(img|dsc|dscn|dcim|pxl|gopr|mvimg|screenshot|kakaotalk)[_\- ]?\d", re.IGNORECASE)
# One generic word standing for the whole caption, English and Korean.
_GENERIC = frozenset(
    {
        "image", "images", "photo", "photos", "picture", "pic", "img", "thumbnail", "thumb", "untitled",
        "placeholder", "logo", "icon", "banner", "no image", "noimage", "default", "blank",
        "이미지", "사진", "그림", "썸네일", "대표이미지", "배너", "로고", "아이콘", "이미지 없음", "제목 없음",
    }
)


def is_boilerplate(text: str) -> bool:
    """A URL, a file or camera name, or a single generic word instead of a description."""
    stripped = text.strip()
    if _URL.search(stripped) or _FILE_NAME.match(stripped) or _CAMERA_NAME.match(stripped):
        return True
    normalized = re.sub(r"[\d_\-.:#()\[\]]+", " ", stripped.lower())
    return " ".join(normalized.split()) in _GENERIC


def _text(row: Mapping[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass
class CaptionLanguageConfig:
    column: str = "alt_text"
    min_hangul_ratio: float = 0.5  # a Korean caption: at least half of its letters are Hangul
    max_hangul_ratio: float = 1.0  # set to 0.0 to require text without Hangul (English captions)

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_hangul_ratio <= self.max_hangul_ratio <= 1.0:
            raise ValueError("need 0 <= min_hangul_ratio <= max_hangul_ratio <= 1")


@register_filter("caption_language", CaptionLanguageConfig, NEEDS_TEXT)
def check_caption_language(row: Mapping[str, Any], config: CaptionLanguageConfig) -> str | None:
    text = _text(row, config.column)
    if text is None:
        return "no_text"
    ratio = hangul_ratio(text)
    return None if config.min_hangul_ratio <= ratio <= config.max_hangul_ratio else "wrong_language"


@dataclass
class TextLengthConfig:
    column: str = "alt_text"
    min_chars: int = 2  # Korean packs a word into 2-3 syllables; "한옥" is a real caption
    max_chars: int = 1000

    def __post_init__(self) -> None:
        if not 0 <= self.min_chars <= self.max_chars:
            raise ValueError("need 0 <= min_chars <= max_chars")


@register_filter("text_length", TextLengthConfig, NEEDS_TEXT)
def check_text_length(row: Mapping[str, Any], config: TextLengthConfig) -> str | None:
    text = _text(row, config.column)
    if text is None:
        return "no_text"
    if len(text) < config.min_chars:
        return "text_too_short"
    return "text_too_long" if len(text) > config.max_chars else None


@dataclass
class BoilerplateConfig:
    column: str = "alt_text"


@register_filter("boilerplate_text", BoilerplateConfig, NEEDS_TEXT)
def check_boilerplate(row: Mapping[str, Any], config: BoilerplateConfig) -> str | None:
    text = _text(row, config.column)
    if text is None:
        return "no_text"
    return "boilerplate_text" if is_boilerplate(text) else None
