"""Reading Korean-English sentence pairs from CSV, TSV, JSONL and XLSX files, finding the two columns.

Korean public translation corpora (the AI Hub Korean-English parallel corpora, for example) ship as
spreadsheets with ``원문`` (source) / ``번역문`` (translation) columns; other sets use ``ko`` / ``en`` or
``korean`` / ``english``. Column names are matched case-insensitively; for ``원문`` / ``번역문`` the
Korean side is whichever column is written in Hangul, since the en→ko sets put English in ``원문``.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd

from kdata.errors import KcliError
from kdata.textnorm import normalize_text, script_counts

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".xlsx": "xlsx"}
# (korean, english) header pairs, most specific first.
COLUMN_PAIRS = (("원문", "번역문"), ("ko", "en"), ("korean", "english"), ("kor", "eng"), ("한국어", "영어"))
DIRECTION_SAMPLE = 200  # rows looked at to tell which of 원문/번역문 is Korean
CSV_ENCODINGS = ("utf-8-sig", "cp949")  # Excel on Korean Windows saves CSV as cp949


class CorpusInputError(KcliError):
    """An input file that cannot be read as a parallel corpus."""


@dataclass
class CorpusFile:
    """One input file, read: its rows as dicts of strings, and which columns hold each language."""

    path: Path
    rows: list[dict[str, Any]]
    ko_col: str
    en_col: str


def read_corpus_file(path: str | Path, ko_col: str | None = None, en_col: str | None = None) -> CorpusFile:
    path = Path(path)
    if not path.exists():
        raise CorpusInputError(f"no such input file: {path}")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CorpusInputError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        rows = _read_jsonl(path)
        columns = list(dict.fromkeys(name for row in rows for name in row))
    else:
        columns, rows = _read_frame(path, fmt)
    ko, en = detect_columns(path, columns, rows, ko_col, en_col)
    return CorpusFile(path, rows, ko, en)


def _read_frame(path: Path, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    try:
        frame = pd.read_excel(path, dtype=str, keep_default_na=False) if fmt == "xlsx" else _read_delimited(path, fmt)
    except (ValueError, OSError, pd.errors.ParserError, zipfile.BadZipFile) as exc:
        raise CorpusInputError(f"{path}: cannot be read as {fmt.upper()}: {str(exc).splitlines()[0]}") from None
    frame.columns = [str(c) for c in frame.columns]
    return list(frame.columns), frame.to_dict(orient="records")


def _read_delimited(path: Path, fmt: str) -> pd.DataFrame:
    # TSV corpora use no quoting (a quote is just a character in a sentence); CSV follows RFC 4180.
    options: dict[str, Any] = {"sep": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    for encoding in CSV_ENCODINGS:
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, **options)
        except UnicodeDecodeError:
            continue
    raise CorpusInputError(f"{path}: not UTF-8 or CP949 text; save it as UTF-8")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusInputError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
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
