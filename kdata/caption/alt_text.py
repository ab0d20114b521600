"""Alt-text cleaning: turn the ``alt`` attribute a page gave an image into a caption, or into nothing.

Web alt text is the caption source of LAION and CC3M/CC12M, and also their noisiest: file names
("IMG_2041.JPG"), URLs, HTML entities, placeholders ("image", "사진", "이미지"), and on Korean news sites
photo credits ("[사진=연합뉴스]", "ⓒ 뉴스1"). Conceptual Captions (Sharma et al., ACL 2018, section 3)
drops alt text that is mostly boilerplate or carries no words; this module does the same with rules
that keep what is left of a useful sentence.
"""

from __future__ import annotations

import html
import re

from kdata.textnorm import normalize_text, script_counts

_TAG = re.compile(r"<[^>]{0,200}>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_FILE_NAME = re.compile(r"\S+\.(?:jpe?g|png|gif|webp|bmp|tiff?|svg|heic|avif)\b", re.IGNORECASE)
_CAMERA_NAME = re.compile(r"\b(?:IMG|DSC|DSCN|DCIM|PXL|MVIMG|KakaoTalk)[_-]?\w*\d{3,}\w*\b", re.IGNORECASE)
# Korean photo credits and captions markers: "[사진=연합뉴스]", "(사진 제공: 문화재청)", "ⓒ 뉴스1".
_CREDIT = re.compile(r"[\[(]\s*(?:사진|이미지|그림|출처|제공|자료)[^\])]{0,40}[\])]")
_COPYRIGHT = re.compile(r"[ⓒ©]\s*\S+(?:\s*\S+)?$")
_EN_PREFIX = re.compile(r"^(?:an?\s+)?(?:image|photo|photograph|picture|thumbnail)\s+of\s+", re.IGNORECASE)
_KO_SUFFIX = re.compile(r"\s+(?:사진|이미지|썸네일)$")
_EDGE_PUNCT = re.compile(r"^[\s\-–—|:;,./_·•*#~]+|[\s\-–—|:;,/_·•*#~]+$")
# Alt texts that are only a placeholder, compared after lower-casing and removing spaces and digits.
BOILERPLATE = frozenset(
    {
        "image", "images", "img", "photo", "picture", "pic", "thumbnail", "thumb", "logo", "banner", "icon",
        "untitled", "noimage", "placeholder", "alt", "null", "none", "undefined", "default",
        "사진", "이미지", "그림", "썸네일", "대표이미지", "첨부이미지", "본문이미지", "로고", "배너", "아이콘",
        "이미지없음", "무제",
    }
)
MIN_LETTERS = 2


def clean_alt_text(text: str | None, max_chars: int = 300) -> str | None:
    """The caption left in ``text`` once markup and noise are removed, or ``None`` if nothing useful is.

    >>> clean_alt_text("&lt;b&gt;한복&lt;/b&gt; 입은 여인 사진")
    '한복 입은 여인'
    """
    if text is None:
        return None
    value = html.unescape(html.unescape(str(text)))  # twice: CMSs often escape "&amp;lt;" once too many
    value = _TAG.sub(" ", value)
    value = normalize_text(value)
    for pattern in (_URL, _FILE_NAME, _CAMERA_NAME, _CREDIT, _COPYRIGHT):
        value = pattern.sub(" ", value)
    value = normalize_text(value)
    value = _EN_PREFIX.sub("", value)
    value = _KO_SUFFIX.sub("", value)
    value = _EDGE_PUNCT.sub("", value)
    if not value or len(value) > max_chars or is_boilerplate(value):
        return None
    counts = script_counts(value)
    return value if counts.letters >= MIN_LETTERS else None


def is_boilerplate(text: str) -> bool:
    key = re.sub(r"[\s\d_\-.]+", "", text.lower())
    return key in BOILERPLATE
