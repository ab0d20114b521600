"""Reading a corpus shipped as one JSON document: an array of records, or an object that holds one.

AI Hub ships many of its Korean-English corpora this way: ``[{"원문": ..., "번역문": ...}, ...]``, or
``{"data": [{...}, ...]}`` with metadata (a name, a version, counts) beside the array. The records are
the first array of objects: the top-level array itself, or the value of the top-level key that holds
one. A document with two such arrays (``{"train": [...], "valid": [...]}``) is refused rather than
half read.

The file is read as a stream: the text arrives chunk by chunk and each record is parsed on its own, so
memory holds the records and about one chunk of text, never a file of hundreds of megabytes next to its
whole parse tree. Nesting is counted from the top of the document, as :mod:`kdata.jsondepth` counts it,
and a record or value nested past the limit is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, TextIO

from kdata.corpus.limits import CorpusInputError, option
from kdata.jsondepth import json_too_deep, too_deep_message

CHUNK_CHARS = 1 << 20
_DECODER = json.JSONDecoder()
# A parse error this close to the window's end may only mean the record goes on in the next chunk: a cut
# literal ("fal"), \u escape or number ("1.", "1e") fails within a few characters of the cut.
_TRUNCATED_TAIL = 16
_PARSER_DEPTH = 900  # below this, a RecursionError from the parser can only mean nesting past the limit
# A string (its closing quote captured when it has arrived) or a bracket: what nesting depends on.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?P<close>")?|[\[\]{}]', re.S)
_SCALAR = re.compile(r"[^\s,\]}]+")
_SPACE = re.compile(r"\s*")


def read_json_records(path: Path, max_depth: int) -> list[dict[str, Any]]:
    """Every record of a JSON corpus file, in order; a one-line :class:`CorpusInputError` when it is not one."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return list(_Scanner(path, handle, max_depth).records())
    except UnicodeDecodeError:
        raise CorpusInputError(f"{path}: not UTF-8 text; save it as UTF-8") from None


def _kind(char: str) -> str:
    """The JSON type of a value from its first character, for a one-line message."""
    kinds = {'"': "str", "[": "list", "t": "bool", "f": "bool", "n": "null", "": "nothing"}
    return kinds.get(char, "number")


class _Scanner:
    """A window on the text: ``buf`` holds what has been read and not yet consumed; indices point into it."""

    def __init__(self, path: Path, handle: TextIO, max_depth: int) -> None:
        self.path, self.handle, self.max_depth = path, handle, max_depth
        self.buf = ""
        self.offset = 0  # characters dropped from the front of buf so far, for error positions
        self.eof = False

    def records(self) -> Iterator[dict[str, Any]]:
        start, char = self._peek(0)
        if char == "[":
            end = yield from self._array(start, depth=1, key=None)
        elif char == "{":
            end = yield from self._object(start)
        else:
            raise self._error(start, "expected a JSON array of records, or an object holding one")
        end, char = self._peek(end)
        if char:
            raise self._error(end, "more text after the end of the JSON document")

    def _object(self, start: int) -> Generator[dict[str, Any], None, int]:
        """The records of the one key whose value is an array of objects (every other value is skipped);
        returns the index just past the closing brace."""
        found: list[str] = []
        keys: list[str] = []
        empty = False
        index, char = self._peek(start + 1)
        while char != "}":
            if char != '"':
                raise self._error(index, "expected a key in quotes")
            end = self._string_end(index)
            keys.append(json.loads(self.buf[index:end]))
            index, char = self._peek(end)
            if char != ":":
                raise self._error(index, "expected ':' after a key")
            index, char = self._peek(index + 1)
            first = self._peek(index + 1)[1] if char == "[" else None
            empty = empty or first == "]"  # [] where records could be: a corpus of no rows, not a bad file
            if first == "{":
                found.append(keys[-1])
                if len(found) > 1:
                    raise CorpusInputError(f"{self.path}: holds several arrays of records ({', '.join(found)}); "
                                           "save each as its own file")
                index = yield from self._array(index, depth=2, key=keys[-1])
            else:
                index = self._value_end(index, depth=1, what=f"the value of {keys[-1]!r}")
            index, char = self._peek(index)
            if char == ",":
                index, char = self._peek(index + 1)
            elif char != "}":
                raise self._error(index, "expected ',' or '}'")
        if not found and not empty:
            raise CorpusInputError(f"{self.path}: no array of records under any key (keys: "
                                   f"{', '.join(keys) or 'none'}); expected [{{\"ko\": ..., \"en\": ...}}, ...] "
                                   'or {"data": [...]}')
        return index + 1

    def _array(self, start: int, depth: int, key: str | None) -> Generator[dict[str, Any], None, int]:
        """Parse each element of the array at ``start`` on its own; returns the index just past its ``]``."""
        number = 0
        index, char = self._peek(start + 1)
        while char != "]":
            number += 1
            where = f"record {number}" if key is None else f"record {number} of {key!r}"
            if char != "{":
                raise CorpusInputError(f"{self.path} {where}: expected a JSON object, got {_kind(char)}")
            record, end = self._decode(index, depth, where)
            yield record
            index, char = self._peek(self._release(end))
            if char == ",":
                index, char = self._peek(index + 1)
            elif char != "]":
                raise self._error(index, "expected ',' or ']' after a record")
        return index + 1

    def _decode(self, start: int, depth: int, where: str) -> tuple[dict[str, Any], int]:
        """The record at ``start`` (an object ``depth`` levels down) and the index just past it.

        The C parser reads from the window directly; when it stops near the window's end the record may go
        on in the next chunk, so more is read and it parses again. Its depth is measured after parsing:
        Python's parser itself stops deep nesting with a ``RecursionError`` (at about 1,000 levels), so
        parsing first is safe, and a usual record costs only the two ``count`` calls of the fast path.
        """
        while True:
            try:
                record, end = _DECODER.raw_decode(self.buf, start)
                break
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(self.buf) or exc.msg.startswith("Unterminated")
                if (cut or exc.pos >= len(self.buf) - _TRUNCATED_TAIL) and self._more():
                    continue
                if cut:
                    raise self._error(len(self.buf), f"the file ends inside {where}") from None
                raise CorpusInputError(f"{self.path} {where}: not valid JSON ({exc.msg})") from None
            except RecursionError:
                if self.max_depth < _PARSER_DEPTH:
                    raise CorpusInputError(f"{self.path} {where}: {self._too_deep()}") from None
                raise CorpusInputError(f"{self.path} {where}: JSON nested too deep for the parser") from None
        if json_too_deep(self.buf[start:end], self.max_depth - depth):
            raise CorpusInputError(f"{self.path} {where}: {self._too_deep()}")
        return record, end

    def _too_deep(self) -> str:
        return too_deep_message(self.max_depth, option("max_json_depth"))

    def _value_end(self, start: int, depth: int, what: str) -> int:
        """The index just past the value at ``start``, reading on as needed; ``depth``: the levels around it."""
        char = self.buf[start]
        if char == '"':
            return self._string_end(start)
        if char not in "[{":
            match = _SCALAR.match(self.buf, start)
            while match is not None and match.end() == len(self.buf) and self._more():
                match = _SCALAR.match(self.buf, start)
            if match is None:
                raise self._error(start, f"expected a value for {what}")
            return match.end()
        level, scan = 0, start
        while True:
            for match in _TOKEN.finditer(self.buf, scan):
                token = match.group()
                if token[0] == '"':
                    if match.group("close") is None:  # the string goes on in the next chunk
                        scan = match.start()
                        break
                    continue
                level += 1 if token in "[{" else -1
                if depth + level > self.max_depth:
                    raise CorpusInputError(f"{self.path} {what}: {self._too_deep()}")
                if level == 0:
                    return match.end()
            else:
                scan = len(self.buf)
            if not self._more():
                raise self._error(len(self.buf), f"the file ends inside {what}")

    def _string_end(self, start: int) -> int:
        match = _TOKEN.match(self.buf, start)
        while match.group("close") is None:
            if not self._more():
                raise self._error(start, "the file ends inside a string")
            match = _TOKEN.match(self.buf, start)
        return match.end()

    def _peek(self, index: int) -> tuple[int, str]:
        """The index and character of the next non-space character from ``index`` ('' at the end of the file)."""
        while True:
            index = _SPACE.match(self.buf, index).end()
            if index < len(self.buf):
                return index, self.buf[index]
            if not self._more():
                return index, ""

    def _more(self) -> bool:
        """Read the next chunk onto ``buf``; False at the end of the file. Chunks grow with a long value, so
        reading one costs time linear in its length."""
        if self.eof:
            return False
        chunk = self.handle.read(max(CHUNK_CHARS, len(self.buf)))
        self.eof = not chunk
        self.buf += chunk
        return bool(chunk)

    def _release(self, index: int) -> int:
        """Drop the text before ``index`` once it is half the window (so each character is copied a bounded
        number of times); returns where ``index`` now points."""
        if index < CHUNK_CHARS // 2 or index < len(self.buf) // 2:
            return index
        self.offset += index
        self.buf = self.buf[index:]
        return 0

    def _error(self, index: int, what: str) -> CorpusInputError:
        found = self.buf[index : index + 20] or "the end of the file"
        return CorpusInputError(f"{self.path}: not a JSON corpus at character {self.offset + index + 1}: {what} "
                                f"(found {found!r})")
