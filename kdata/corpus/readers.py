"""Reading Korean-English sentence pairs from CSV, TSV, JSONL, JSON and XLSX files, finding the two columns.

Korean public translation corpora (the AI Hub Korean-English parallel corpora, for example) ship as
spreadsheets or JSON arrays of records (:mod:`kdata.corpus.jsonarray`) with ``원문`` (source) /
``번역문`` (translation) columns; other sets use ``ko`` / ``en`` or ``korean`` / ``english``. Column
names are matched case-insensitively; for ``원문`` / ``번역문`` the Korean side is whichever column is
written in Hangul, since the en→ko sets put English in ``원문``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from kdata.corpus.jsonarray import read_json_records
from kdata.corpus.limits import CorpusInputError, CorpusLimits, option
from kdata.corpus.xlsx import column_names, read_xlsx
from kdata.jsondepth import json_too_deep, too_deep_message
from kdata.textnorm import normalize_text, script_counts

__all__ = ["CorpusFile", "CorpusInputError", "CorpusLimits", "detect_columns", "read_corpus_file"]

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json", ".xlsx": "xlsx"}
# (korean, english) header pairs, most specific first.
COLUMN_PAIRS = (("원문", "번역문"), ("ko", "en"), ("korean", "english"), ("kor", "eng"), ("한국어", "영어"))
DIRECTION_SAMPLE = 200  # rows looked at to tell which of 원문/번역문 is Korean
CSV_ENCODINGS = ("utf-8-sig", "cp949")  # Excel on Korean Windows saves CSV as cp949


@dataclass
class CorpusFile:
    """One input file, read: its rows as dicts of strings, and which columns hold each language.

    ``reasons`` rejects rows already while reading (by index into ``rows``): a CSV line with more or fewer
    fields than the header (``field_count=<fields>/<header fields>``), whose text cannot be trusted to
    sit in the right column.
    """

    path: Path
    rows: list[dict[str, Any]]
    ko_col: str
    en_col: str
    reasons: dict[int, str] = field(default_factory=dict)


def read_corpus_file(path: str | Path, ko_col: str | None = None, en_col: str | None = None,
                     limits: CorpusLimits | None = None) -> CorpusFile:
    path, limits = Path(path), limits or CorpusLimits()
    if not path.exists():
        raise CorpusInputError(f"no such input file: {path}")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CorpusInputError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(FORMATS)}")
    reasons: dict[int, str] = {}
    if fmt in ("jsonl", "json"):
        reader = _read_jsonl if fmt == "jsonl" else read_json_records
        rows = reader(path, limits.max_json_depth)
        columns = list(dict.fromkeys(name for row in rows for name in row))
    elif fmt == "xlsx":
        columns, rows = read_xlsx(path, limits)
    else:
        columns, rows, reasons = _read_delimited(path, fmt)
    ko, en = detect_columns(path, columns, rows, ko_col, en_col)
    return CorpusFile(path, rows, ko, en, reasons)


def _read_delimited(path: Path, fmt: str) -> tuple[list[str], list[dict[str, Any]], dict[int, str]]:
    """The header, the rows, and a reason for each row whose field count differs from the header's.

    A ragged line is recorded, not fatal: in a large corpus it is usually one sentence with a stray
    delimiter, and one bad line should cost one pair, in plain sight in the manifest and the funnel,
    not the whole file. (pandas, read before, took an extra field on every line as an index and so
    shifted every column by one, silently.)
    """
    # TSV corpora use no quoting (a quote is just a character in a sentence); CSV follows RFC 4180.
    dialect: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    reader = csv.reader(io.StringIO(_decode(path), newline=""), **dialect)
    header: list[str] = []
    rows: list[dict[str, Any]] = []
    reasons: dict[int, str] = {}
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            if not header:
                header = column_names(fields)
                continue
            if len(fields) != len(header):
                reasons[len(rows)] = f"field_count={len(fields)}/{len(header)}"
            rows.append(dict(zip(header, fields + [""] * (len(header) - len(fields)))))
    except csv.Error as exc:
        raise CorpusInputError(f"{path} line {reader.line_num}: cannot be read as {fmt.upper()}: {exc}") from None
    return header, rows, reasons


def _decode(path: Path) -> str:
    data = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CorpusInputError(f"{path}: not UTF-8 or CP949 text; save it as UTF-8")


def _read_jsonl(path: Path, max_depth: int) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if json_too_deep(line, max_depth):
                raise CorpusInputError(f"{path} line {number}: {too_deep_message(max_depth, option('max_json_depth'))}")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusInputError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
            except RecursionError:  # a limit raised past what the parser can take
                raise CorpusInputError(f"{path} line {number}: JSON nested too deep for the parser") from None
            if not isinstance(record, dict):
                raise CorpusInputError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
            rows.append(record)
    return rows


def detect_columns(path: Path, columns: list[str], rows: list[dict[str, Any]], ko_col: str | None,
                   en_col: str | None) -> tuple[str, str]:
    """The (korean, english) column names: the ones given, or a known pair found in the header."""
    for given in (ko_col, en_col):
        if given is not None and given not in columns:
            raise CorpusInputError(f"{path}: no column {given!r}; it has: {', '.join(columns) or '(none)'}")
    if ko_col and en_col:
        return ko_col, en_col
    by_name = {normalize_text(c).lower(): c for c in columns}
    for ko_name, en_name in COLUMN_PAIRS:
        if ko_name in by_name and en_name in by_name:
            ko, en = by_name[ko_name], by_name[en_name]
            if ko_name == "원문" and _hangul_share(rows, ko) < _hangul_share(rows, en):
                ko, en = en, ko
            return ko_col or ko, en_col or en
    raise CorpusInputError(
        f"{path}: cannot tell which columns hold Korean and English (columns: {', '.join(columns) or '(none)'}); "
        "name them 원문/번역문, ko/en or korean/english, or pass --ko-col and --en-col"
    )


def _hangul_share(rows: Iterable[dict[str, Any]], column: str) -> float:
    hangul = letters = 0
    for row in islice(rows, DIRECTION_SAMPLE):
        counts = script_counts(str(row.get(column) or ""))
        hangul, letters = hangul + counts.hangul, letters + counts.letters
    return hangul / letters if letters else 0.0
