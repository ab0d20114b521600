"""URL list readers: every input format (and its gzip form) gives the same columns."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdata.errors import ConfigError
from kdata.ingest.readers import read_url_list

ROWS = [
    {"URL": "http://a.example/1.jpg", "TEXT": "첫째, with a comma", "width": 10, "lang": "ko"},
    {"URL": "http://a.example/2.jpg", "TEXT": "line\nbreak", "width": 20, "lang": "en"},
]


def _write(path: Path, fmt: str) -> None:
    if fmt in ("csv", "tsv"):
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(ROWS[0]), delimiter="," if fmt == "csv" else "\t")
        writer.writeheader()
        writer.writerows(ROWS)
        data = text.getvalue().encode()
    elif fmt == "jsonl":
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS).encode()
    else:
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(ROWS), sink)
        data = sink.getvalue().to_pybytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize("name", ["l.csv", "l.tsv", "l.jsonl", "l.parquet", "l.csv.gz", "l.tsv.gz", "l.jsonl.gz",
                                  "l.parquet.gz"])
def test_tabular_formats_rename_url_and_caption_and_carry_the_rest(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _write(path, name.split(".")[1])
    table = pa.concat_tables(read_url_list(path, url_col="URL", caption_col="TEXT"))
    assert table.column_names == ["url", "caption", "input_width", "lang"]  # width is ingest's: moved aside
    assert table.column("url").to_pylist() == [r["URL"] for r in ROWS]
    assert table.column("caption").to_pylist() == [r["TEXT"] for r in ROWS]
    assert table.column("input_width").to_pylist() == [10, 20]


@pytest.mark.parametrize("name", ["urls.txt", "urls.txt.gz"])
def test_text_lists_skip_blank_lines_and_comments(tmp_path: Path, name: str) -> None:
    text = b"# my list\nhttp://a.example/1.jpg\n\n  http://a.example/2.jpg  \n"
    (tmp_path / name).write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    table = pa.concat_tables(read_url_list(tmp_path / name))
    assert table.to_pylist() == [{"url": "http://a.example/1.jpg"}, {"url": "http://a.example/2.jpg"}]


def test_a_missing_column_or_format_is_a_one_line_error(tmp_path: Path) -> None:
    _write(tmp_path / "l.csv", "csv")
    with pytest.raises(ConfigError, match=r"l.csv has no column 'url' \(--url-col\); it has: URL, TEXT, width, lang"):
        list(read_url_list(tmp_path / "l.csv"))
    (tmp_path / "l.xlsx").write_text("x")
    with pytest.raises(ConfigError, match="cannot tell the format of l.xlsx"):
        list(read_url_list(tmp_path / "l.xlsx"))
    with pytest.raises(ConfigError, match="no such input file"):
        list(read_url_list(tmp_path / "none.csv"))
