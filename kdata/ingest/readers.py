"""URL list readers: txt, csv, tsv, jsonl and parquet (each also gzip-compressed), as Arrow batches.

The same inputs img2dataset takes. The URL column becomes ``url`` and the caption column ``caption``;
every other column is carried through to the manifest (renamed ``input_<name>`` only where it would
collide with a column ingest writes, such as ``width``). Readers stream: a list of millions of URLs is
never parsed into one Python list.

A list without a single row is an error, not an empty manifest: it is a wrong file or a failed export,
and the next stage should not start from nothing. JSON lines are measured for nesting before pyarrow
parses them (:mod:`kdata.jsondepth`: its reader crashes the process near 30,000 levels).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from kdata.errors import ConfigError
from kdata.ingest.columns import RESERVED_COLUMNS
from kdata.jsondepth import DEFAULT_MAX_JSON_DEPTH, json_too_deep, too_deep_message
from kdata.schema import IMAGE

FORMATS = ("txt", "csv", "tsv", "jsonl", "parquet")
BATCH_ROWS = 65_536
JSON_BLOCK = 1 << 20  # pyarrow's JSON block size: it refuses a longer line itself, so a prefix is enough
GZIP_MAX_RATIO = 100  # for .parquet.gz, which is inflated in memory
MESSAGE_CHARS = 200  # of a parser's message, which may quote a whole input line
DEPTH_SETTING = "--set max_json_depth=N"


def detect_format(path: Path, input_format: str | None = None) -> str:
    """The list format from ``input_format`` or the file name (``.csv``, ``.tsv.gz``, ``.json`` ...)."""
    if input_format:
        if input_format not in FORMATS:
            raise ConfigError(f"unknown input format {input_format!r}; valid formats: {', '.join(FORMATS)}")
        return input_format
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    ext = {"json": "jsonl", "ndjson": "jsonl", "text": "txt", "pq": "parquet"}.get(ext, ext)
    if ext not in FORMATS:
        raise ConfigError(f"cannot tell the format of {path.name}; pass --input-format ({', '.join(FORMATS)})")
    return ext


def read_url_list(
    path: Path, url_col: str = "url", caption_col: str | None = None, input_format: str | None = None,
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
) -> Iterator[pa.Table]:
    """Yield tables with ``url`` (string), optionally ``caption``, and every other input column.

    Raises :class:`ConfigError` for a list without rows, once the whole file has been read.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such input file: {path}")
    fmt = detect_format(path, input_format)
    empty = ConfigError(f"{path} lists no URLs (an empty file, or a header without rows)")
    if _blank(path):  # before pyarrow, whose messages for it differ by format
        raise empty
    rows = 0
    for table in read_rows(path, fmt, url_col, max_json_depth):
        rows += table.num_rows
        yield normalise_columns(table, url_col, caption_col, path.name)
    if not rows:
        raise empty


def read_rows(path: Path, fmt: str, key_col: str, max_json_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Iterator[pa.Table]:
    """The rows of a list or metadata file as tables, its columns as they are, ``key_col`` read as text.

    A file that cannot be parsed (a ragged CSV line, broken JSON) is a one-line :class:`ConfigError`.
    """
    try:
        if fmt == "jsonl":
            check_json_depth(path, max_json_depth)
        yield from _RAW_READERS[fmt](path, key_col)
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
        message = (str(exc).splitlines() or [type(exc).__name__])[0]
        message = message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS] + "..."
        raise ConfigError(f"cannot read {path} as {fmt}: {message}") from None


def check_json_depth(path: Path, limit: int) -> None:
    """Refuse a JSON-lines file with a line nested deeper than ``limit``, naming the line."""
    with _open_binary(path) as handle:
        number = 0
        while line := handle.readline(JSON_BLOCK + 1):
            number += 1
            if json_too_deep(line, limit):
                raise ConfigError(f"{path} line {number}: {too_deep_message(limit, DEPTH_SETTING)}")
            while line and not line.endswith(b"\n"):  # the rest of a line longer than a block
                line = handle.readline(JSON_BLOCK + 1)


def _blank(path: Path) -> bool:
    """Whether the file holds nothing but white space (it stops reading at the first other byte)."""
    with _open_binary(path) as handle:
        while chunk := handle.read(1 << 16):
            if chunk.strip():
                return False
    return True


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # type: ignore[return-value]


def _read_txt(path: Path, url_col: str) -> Iterator[pa.Table]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        batch: list[str] = []
        for line in handle:
            url = line.strip()
            if url and not url.startswith("#"):
                batch.append(url)
            if len(batch) >= BATCH_ROWS:
                yield pa.table({url_col: batch})
                batch = []
        if batch:
            yield pa.table({url_col: batch})


def _read_delimited(path: Path, url_col: str, delimiter: str) -> Iterator[pa.Table]:
    # newlines_in_values: captions scraped from the web contain quoted line breaks.
    reader = pacsv.open_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={url_col: pa.string()}),
    )
    for batch in reader:
        yield pa.Table.from_batches([batch])


def _read_jsonl(path: Path, url_col: str) -> Iterator[pa.Table]:
    for batch in pajson.open_json(path):
        yield pa.Table.from_batches([batch])


def _read_parquet(path: Path, url_col: str) -> Iterator[pa.Table]:
    source: Path | io.BytesIO = path
    if path.name.lower().endswith(".gz"):  # Parquet needs random access: inflate a gzipped file in memory
        source = _inflate(path)
    for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS):
        yield pa.Table.from_batches([batch])


def _inflate(path: Path) -> io.BytesIO:
    """A gzipped file in memory, refused once it inflates past ``GZIP_MAX_RATIO`` times its size.

    Parquet is compressed inside, so gzip over it gains little; a file that inflates 100 times is a
    gzip bomb (the ratio Apache POI's ZipSecureFile refuses in Office files).
    """
    limit = max(path.stat().st_size * GZIP_MAX_RATIO, 1 << 20)
    inflated = io.BytesIO()
    with gzip.open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            inflated.write(chunk)
            if inflated.tell() > limit:
                raise ConfigError(f"{path} inflates more than {GZIP_MAX_RATIO} times its size, as a gzip bomb "
                                  "does; gunzip it first if the file is trusted")
    inflated.seek(0)
    return inflated


_RAW_READERS = {
    "txt": _read_txt,
    "csv": lambda p, u: _read_delimited(p, u, ","),
    "tsv": lambda p, u: _read_delimited(p, u, "\t"),
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
}


def normalise_columns(table: pa.Table, url_col: str, caption_col: str | None, where: str) -> pa.Table:
    """Rename the URL/caption columns, cast them to strings, and move colliding columns aside."""
    names = table.column_names
    for wanted, option in ((url_col, "--url-col"), (caption_col, "--caption-col")):
        if wanted is not None and wanted not in names:
            raise ConfigError(f"{where} has no column {wanted!r} ({option}); it has: {', '.join(names)}")
    renames = {url_col: "url"}
    if caption_col is not None:
        renames[caption_col] = "caption"
    columns, fields = [], []
    for name, column in zip(names, table.columns):
        target = renames.get(name)
        if target is None:
            target = f"input_{name}" if name in RESERVED_COLUMNS or name in renames.values() else name
        column = _cast_known(target, column)
        columns.append(column)
        fields.append(pa.field(target, column.type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _cast_known(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Columns the image schema knows (url, caption, license ...) get its type; strings stay strings."""
    field = IMAGE.field(name)
    if field is None or column.type == field.type:
        return column
    if pa.types.is_string(field.type) and pa.types.is_nested(column.type):
        raise ConfigError(f"column {name!r} must hold text, not {column.type}")
    return column.cast(field.type)
