"""URL list readers: txt, csv, tsv, jsonl and parquet (each also gzip-compressed), as Arrow batches.

The same inputs img2dataset takes. The URL column becomes ``url`` and the caption column ``caption``;
every other column is carried through to the manifest (renamed ``input_<name>`` only where it would
collide with a column ingest writes, such as ``width``). Readers stream: a list of millions of URLs is
never parsed into one Python list.
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
from kdata.schema import IMAGE

FORMATS = ("txt", "csv", "tsv", "jsonl", "parquet")
BATCH_ROWS = 65_536


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
    path: Path, url_col: str = "url", caption_col: str | None = None, input_format: str | None = None
) -> Iterator[pa.Table]:
    """Yield tables with ``url`` (string), optionally ``caption``, and every other input column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such input file: {path}")
    fmt = detect_format(path, input_format)
    try:
        for table in _RAW_READERS[fmt](path, url_col):
            yield normalise_columns(table, url_col, caption_col, path.name)
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path} as {fmt}: {str(exc).splitlines()[0]}") from None


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
        source = io.BytesIO(gzip.decompress(path.read_bytes()))
    for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS):
        yield pa.Table.from_batches([batch])


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
