"""The first sheet of an XLSX workbook as a header and rows of text, within :class:`CorpusLimits`.

An XLSX file is a zip of XML parts, and openpyxl (even read-only) keeps the whole shared-string table and
each cell's text in memory, and makes up the rows a sheet skips: ``<row r="900000">`` after row 1 gives
899,998 empty rows. A 1 MB workbook could so take minutes and gigabytes. Nothing reaches openpyxl before
two checks:

1. The zip directory: the parts' declared sizes must add up to at most ``max_xlsx_bytes``, and no part
   over 100 KB may inflate more than ``max_xlsx_ratio`` times (Apache POI's ``ZipSecureFile`` refuses
   ratios over 100 and exempts parts under 100 KB, whose ratios vary without meaning). Python's zipfile
   never inflates a part past its declared size (it stops there and fails the CRC check), so the
   declared sizes bound the real ones.
2. One streaming pass over every XML part with expat, 64 KB at a time: no DTD (Excel never writes one,
   and entity expansion needs one), no cell over ``max_cell_chars`` characters, no sheet with more than
   ``max_xlsx_rows`` rows (counted as openpyxl numbers them, claimed row numbers included), and no single
   tag, comment or text node over 10 MB (libxml2's own default limit on a text node).

Then openpyxl streams the rows, only as wide as the header.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any
from xml.parsers import expat

from kdata.corpus.limits import CorpusInputError, CorpusLimits, option

RATIO_GRACE_BYTES = 100 * 1024  # POI's GRACE_ENTRY_SIZE
SCAN_CHUNK = 64 * 1024
MAX_TOKEN_BYTES = 10_000_000  # libxml2's XML_MAX_TEXT_LENGTH; expat holds a whole tag or comment in memory
CELL_ELEMENTS = frozenset({"c", "si"})  # a cell, a shared string: one cell's text lies inside either


def read_xlsx(path: Path, limits: CorpusLimits) -> tuple[list[str], list[dict[str, Any]]]:
    """The column names and the rows (``{column: text}``) of the workbook's first sheet; raises on bad input."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorpusInputError(f"{path}: cannot be read as XLSX: {exc}") from None
    with archive:
        check_zip(path, archive, limits)
        for info in archive.infolist():
            PartScanner(path, info.filename, limits).scan(archive, info)
    return _read_rows(path, limits)


def check_zip(path: Path, archive: zipfile.ZipFile, limits: CorpusLimits) -> None:
    """Refuse a workbook whose parts declare more than the limits allow, before inflating any of them."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if total > limits.max_xlsx_bytes:
            raise _over(path, f"inflates to more than {limits.max_xlsx_bytes:,} bytes", "max_xlsx_bytes")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_GRACE_BYTES and ratio > limits.max_xlsx_ratio:
            raise _over(path, f"{info.filename} inflates {ratio:,.0f} times its packed size, as a zip bomb does "
                              f"(limit {limits.max_xlsx_ratio:g})", "max_xlsx_ratio")


class PartScanner:
    """One streaming pass over one part with expat; raises :class:`CorpusInputError` at the first excess."""

    def __init__(self, path: Path, part: str, limits: CorpusLimits) -> None:
        self.path, self.part, self.limits = path, part, limits
        self.row_number = self.rows = 0  # openpyxl's row counter, and the highest row it would yield
        self.cell_depth = self.cell_chars = self.node_chars = 0
        self.events = 0

    def scan(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        parser = expat.ParserCreate()
        parser.buffer_text, parser.buffer_size = True, SCAN_CHUNK
        parser.StartElementHandler, parser.EndElementHandler = self.start, self.end
        parser.CharacterDataHandler, parser.StartDoctypeDeclHandler = self.text, self.doctype
        parser.CommentHandler = parser.ProcessingInstructionHandler = self.other
        stalled = 0
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(SCAN_CHUNK):
                    seen = self.events
                    parser.Parse(chunk, False)
                    stalled = stalled + len(chunk) if self.events == seen else 0
                    if stalled > MAX_TOKEN_BYTES:
                        raise self.error(f"holds one tag or comment of more than {MAX_TOKEN_BYTES:,} bytes")
                parser.Parse(b"", True)
        except expat.ExpatError:
            return  # not XML (an image, a printer setting), or broken XML: openpyxl reports it if it reads it
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise CorpusInputError(f"{self.path}: cannot be read as XLSX: {self.part}: {exc}") from None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.events += 1
        self.node_chars = 0
        local = name.rpartition(":")[2]
        if local == "row":
            self.row_number = _row_number(attrs.get("r"), self.row_number)
            self.rows = max(self.rows, self.row_number)
            if self.rows > self.limits.max_xlsx_rows:
                raise _over(self.path, f"{self.part} has more than {self.limits.max_xlsx_rows:,} rows",
                            "max_xlsx_rows")
        elif local in CELL_ELEMENTS:
            self.cell_depth += 1
            if self.cell_depth == 1:
                self.cell_chars = 0

    def end(self, name: str) -> None:
        self.events += 1
        self.node_chars = 0
        if name.rpartition(":")[2] in CELL_ELEMENTS:
            self.cell_depth -= 1

    def text(self, data: str) -> None:
        self.events += 1
        self.node_chars += len(data)
        if self.node_chars > MAX_TOKEN_BYTES:
            raise self.error(f"holds a text of more than {MAX_TOKEN_BYTES:,} characters")
        if self.cell_depth:
            self.cell_chars += len(data)
            if self.cell_chars > self.limits.max_cell_chars:
                raise _over(self.path, f"{self.part} holds a cell of more than {self.limits.max_cell_chars:,} "
                                       "characters", "max_cell_chars")

    def doctype(self, *_: Any) -> None:
        raise self.error("declares a DTD, which no Excel workbook does")

    def other(self, *_: Any) -> None:
        self.events += 1

    def error(self, what: str) -> CorpusInputError:
        return CorpusInputError(f"{self.path}: cannot be read as XLSX: {self.part} {what}")


def _row_number(raw: str | None, previous: int) -> int:
    """The number openpyxl gives a row: its ``r`` attribute (``"1e6"`` too), or the previous one plus one."""
    if raw is None:
        return previous + 1
    try:
        return int(raw)
    except ValueError:
        try:
            number = float(raw)
        except ValueError:
            return previous + 1  # openpyxl fails on it, after this row
        return int(number) if number.is_integer() else previous + 1


def _over(path: Path, what: str, setting: str) -> CorpusInputError:
    return CorpusInputError(f"{path}: {what}; raise the limit with {option(setting)} if the file is trusted")


# What openpyxl raises on a malformed workbook: a missing part (KeyError), bad XML (ParseError and lxml's
# XMLSyntaxError are SyntaxErrors), a value of the wrong form (ValueError, TypeError, IndexError).
OPENPYXL_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError, SyntaxError, zipfile.BadZipFile,
                   zlib.error, OSError, EOFError)


def _read_rows(path: Path, limits: CorpusLimits) -> tuple[list[str], list[dict[str, Any]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # openpyxl warns about styles and extensions (data validation, conditional formats) a text reader
    # does not use; on the command line the warnings would bury the result.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            book = load_workbook(path, read_only=True, data_only=True, keep_links=False)
            try:
                return _sheet_rows(path, book.worksheets[0], limits) if book.worksheets else ([], [])
            finally:
                book.close()
        except (*OPENPYXL_ERRORS, InvalidFileException) as exc:
            detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            first_line = (str(detail).splitlines() or [""])[0]
            raise CorpusInputError(f"{path}: cannot be read as XLSX: {first_line}") from None


def _sheet_rows(path: Path, sheet: Any, limits: CorpusLimits) -> tuple[list[str], list[dict[str, Any]]]:
    """The first non-blank row names the columns; later non-blank rows are read only as wide as it is."""
    sheet.reset_dimensions()  # the declared size is the file's word only (pandas ignores it too)
    header_row, header = _header(sheet)
    if not header:
        return [], []
    rows = []
    data = sheet.iter_rows(min_row=header_row + 1, max_col=len(header), values_only=True)
    for number, values in enumerate(data, start=header_row + 1):
        if number > limits.max_xlsx_rows:  # the scan counted them already; openpyxl's numbering must agree
            raise _over(path, f"the first sheet has more than {limits.max_xlsx_rows:,} rows", "max_xlsx_rows")
        texts = [_cell_text(v) for v in values]
        if any(texts):
            rows.append(dict(zip(header, texts + [""] * (len(header) - len(texts)))))
    return header, rows


def _header(sheet: Any) -> tuple[int, list[str]]:
    """The number and the column names of the first row with a value; (0, []) for a blank sheet."""
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        texts = [_cell_text(v) for v in values]
        while texts and not texts[-1]:
            texts.pop()
        if texts:
            return number, column_names(texts)
    return 0, []


def _cell_text(value: Any) -> str:
    """A cell as pandas' ``dtype=str`` read gave it: empty for no value, ``3`` for a whole number."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def column_names(texts: list[str]) -> list[str]:
    """Header cells as column names, as pandas names them: ``Unnamed: 2`` for a blank, ``ko.1`` for a repeat."""
    names: list[str] = []
    for index, text in enumerate(texts):
        name = text or f"Unnamed: {index}"
        base, n = name, 1
        while name in names:
            name, n = f"{base}.{n}", n + 1
        names.append(name)
    return names
