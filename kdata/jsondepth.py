"""JSON nesting depth, measured before a parser sees the text.

Parsers recurse once per level of nesting: Python's ``json`` raises ``RecursionError`` near 1,000 levels,
and pyarrow's JSON reader (26.0) kills the process with a segmentation fault near 30,000, a line of 60 KB.
So JSON that comes from data (corpus lines, sidecars, URL and metadata lists) is measured first, and
nesting deeper than a limit is refused with a message or a row reason, never a crash.

Real data nests shallowly: a corpus line one level, an image annotation sidecar under ten. The default
of 100 leaves room for any of them and stays far below both failure points.
"""

from __future__ import annotations

import re
from itertools import accumulate

DEFAULT_MAX_JSON_DEPTH = 100

# A string token, to its closing quote or the end of the text: the closing quote is optional so that the
# pattern never fails after a long scan (a failing match would rescan from every later quote: quadratic).
_STRING = {str: re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S), bytes: re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)}
_NOT_BRACKET = {str: re.compile(r"[^\[\]{}]+"), bytes: re.compile(rb"[^\[\]{}]+")}
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1, ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_too_deep(text: str | bytes, limit: int) -> bool:
    """Whether ``text`` nests arrays and objects more than ``limit`` levels deep (brackets in strings aside).

    The number of opening brackets bounds the depth, so a usual line costs two ``count`` calls; only a text
    with more than ``limit`` of them is measured, in time linear in its length.
    """
    kind = type(text)
    opening = (b"[", b"{") if kind is bytes else ("[", "{")
    if text.count(opening[0]) + text.count(opening[1]) <= limit:  # type: ignore[arg-type]
        return False
    brackets = _NOT_BRACKET[kind].sub(kind(), _STRING[kind].sub(kind(), text))  # type: ignore[call-overload]
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def too_deep_message(limit: int, setting: str) -> str:
    """The end of a one-line error for JSON nested deeper than ``limit``, naming what raises the limit."""
    return f"JSON nested more than {limit} levels deep (raise the limit with {setting})"
