"""Inputs built to expand: XLSX zip bombs, deep JSON, ragged CSV, NUL characters, empty URL lists.

Each hostile file is made here, in code, and each must end quickly, in bounded memory, with a one-line
error that names the limit and the option raising it, or with a row reason; never a traceback, a crash
or a silently shifted column.
"""

from __future__ import annotations

import gzip
import json
import random
import string
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from kdata.corpus.build import run_corpus_build
from kdata.corpus.limits import CorpusLimits
from kdata.corpus.readers import CorpusInputError, read_corpus_file
from kdata.ingest.folder import FolderIngestConfig, ingest_folder
from kdata.jsondepth import json_too_deep
from tests.helpers.cli import kcli, python
from tests.ingest import images

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
HEADER = b'<row><c t="inlineStr"><is><t>ko</t></is></c><c t="inlineStr"><is><t>en</t></is></c></row>'
PAIR = '<row><c t="inlineStr"><is><t>한옥 마당</t></is></c><c t="inlineStr"><is><t>A hanok yard</t></is></c></row>'
CLI_SECONDS = 60  # the old code ran these for minutes; a refusal takes a process start
MAX_RSS_MB = 400  # kcli itself takes about 150 MB; the old code took gigabytes


def workbook(path: Path, rows: Iterable[bytes], *, strings: bytes | None = None, with_workbook: bool = True,
             sheet_head: bytes = b"") -> Path:
    """An XLSX file written part by part, so that its sheet can be anything at all."""
    types = [("/xl/workbook.xml", "sheet.main"), ("/xl/worksheets/sheet1.xml", "worksheet")]
    targets = [("worksheet", "worksheets/sheet1.xml")]
    if strings is not None:
        types.append(("/xl/sharedStrings.xml", "sharedStrings"))
        targets.append(("sharedStrings", "sharedStrings.xml"))
    overrides = "".join(f'<Override PartName="{name}" ContentType="application/vnd.openxmlformats-officedocument.'
                        f'spreadsheetml.{kind}+xml"/>' for name, kind in types)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                         'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                         'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                         f"{overrides}</Types>")
        archive.writestr("_rels/.rels", f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" '
                         f'Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        if with_workbook:
            archive.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN}" xmlns:r="{DOC_RELS}"><sheets>'
                             '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{RELS}">' + "".join(
            f'<Relationship Id="rId{i}" Type="{DOC_RELS}/{kind}" Target="{target}"/>'
            for i, (kind, target) in enumerate(targets, start=1)) + "</Relationships>")
        if strings is not None:
            archive.writestr("xl/sharedStrings.xml", strings)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(sheet_head + f'<worksheet xmlns="{MAIN}"><sheetData>'.encode() + HEADER)
            for row in rows:
                sheet.write(row)
            sheet.write(b"</sheetData></worksheet>")
    return path


def kcli_measured(*args: str) -> tuple[int, str, float, float]:
    """``kcli ARGS`` in a child of a fresh Python: exit code, stderr, seconds, and the child's peak RSS in MB."""
    measure = ("import resource, subprocess, sys; done = subprocess.run([sys.executable, '-m', 'kcli', *sys.argv[1:]],"
               f" capture_output=True, text=True, timeout={CLI_SECONDS}); "  # kills kcli itself when it overruns
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
               "sys.stderr.write(done.stderr); sys.exit(done.returncode)")
    start = time.monotonic()
    done = python("-c", measure, *args, timeout=CLI_SECONDS + 30)
    assert "TimeoutExpired" not in done.stderr, f"kcli ran over {CLI_SECONDS} s"
    return done.returncode, done.stderr, time.monotonic() - start, int(done.stdout.split()[-1]) / 1024


def one_line_error(done_stderr: str) -> str:
    assert "Traceback" not in done_stderr
    lines = done_stderr.strip().splitlines()
    assert len(lines) == 1, done_stderr
    return lines[0]


def test_the_hand_made_workbook_is_a_workbook(tmp_path: Path) -> None:
    """The refusals below are of the hostile parts, not of a broken generator."""
    corpus = read_corpus_file(workbook(tmp_path / "ok.xlsx", [PAIR.encode()] * 3))
    assert corpus.rows == [{"ko": "한옥 마당", "en": "A hanok yard"}] * 3


@pytest.mark.parametrize(
    ("name", "rows", "message"),
    [
        # A million identical rows: 26 MB of sheet XML in a zip of about 60 KB (the had 3 million).
        ("rows.xlsx", (b"<row><c><v>1</v></c></row>" * 10_000 for _ in range(100)),
         "xl/worksheets/sheet1.xml inflates "),
        # One cell of 40 million characters in a zip of about 40 KB (the had 400 MB).
        ("cell.xlsx", [b'<row><c t="inlineStr"><is><t>', *(b"a" * 1_000_000 for _ in range(40)),
                       b"</t></is></c></row>"],
         "xl/worksheets/sheet1.xml inflates "),
    ],
)
def test_an_xlsx_zip_bomb_is_refused_quickly_in_bounded_memory(tmp_path: Path, name: str, rows: Iterable[bytes],
                                                               message: str) -> None:
    path = workbook(tmp_path / name, rows)
    assert path.stat().st_size < 100_000
    code, stderr, seconds, rss_mb = kcli_measured("corpus", "build", str(path), "--out", str(tmp_path / "out"))
    error = one_line_error(stderr)
    assert code == 2 and error.startswith(f"error: {path}: {message}") and "as a zip bomb does (limit 100)" in error
    assert error.endswith("raise the limit with --max-xlsx-ratio if the file is trusted")
    assert seconds < CLI_SECONDS and rss_mb < MAX_RSS_MB
    assert not (tmp_path / "out").exists()


def test_a_claimed_row_number_counts_as_rows(tmp_path: Path) -> None:
    """``<row r="5000000">`` is 30 bytes, and openpyxl (so pandas) makes up the 4,999,998 rows before it."""
    path = workbook(tmp_path / "far.xlsx", [PAIR.encode(), b'<row r="5000000"><c><v>1</v></c></row>'])
    code, stderr, seconds, rss_mb = kcli_measured("corpus", "build", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and one_line_error(stderr) == (
        f"error: {path}: xl/worksheets/sheet1.xml has more than 1,048,576 rows; "
        "raise the limit with --max-xlsx-rows if the file is trusted")
    assert seconds < CLI_SECONDS and rss_mb < MAX_RSS_MB


def _noise(chars: int, seed: int = 0) -> str:
    """Text that does not compress much, so that only the limit under test can stop it."""
    return "".join(random.Random(seed).choices(string.ascii_letters + " ", k=chars))


@pytest.mark.parametrize(
    ("limits", "build", "message"),
    [
        (CorpusLimits(max_xlsx_rows=10), lambda p: workbook(p, [PAIR.encode()] * 20),
         "xl/worksheets/sheet1.xml has more than 10 rows; raise the limit with --max-xlsx-rows"),
        (CorpusLimits(max_cell_chars=1000), lambda p: workbook(p, [
            f'<row><c t="inlineStr"><is><t>{_noise(600)}</t><t>{_noise(600)}</t></is></c></row>'.encode()]),
         "xl/worksheets/sheet1.xml holds a cell of more than 1,000 characters; raise the limit with --max-cell-chars"),
        (CorpusLimits(max_cell_chars=1000), lambda p: workbook(
            p, [b'<row><c t="s"><v>0</v></c><c t="s"><v>1</v></c></row>'],
            strings=f'<sst xmlns="{MAIN}"><si><t>한옥</t></si><si><r><t>{_noise(900)}</t></r><r><t>{_noise(200)}'
                    "</t></r></si></sst>".encode()),
         "xl/sharedStrings.xml holds a cell of more than 1,000 characters; raise the limit with --max-cell-chars"),
        (CorpusLimits(max_xlsx_bytes=20_000), lambda p: workbook(p, [PAIR.encode()] * 200),
         "inflates to more than 20,000 bytes; raise the limit with --max-xlsx-bytes"),
        (CorpusLimits(max_xlsx_ratio=1.2), lambda p: workbook(p, [
            f'<row><c t="inlineStr"><is><t>{_noise(700, seed)}</t></is></c></row>'.encode() for seed in range(200)]),
         "as a zip bomb does (limit 1.2); raise the limit with --max-xlsx-ratio"),
    ],
)
def test_each_xlsx_limit_names_its_option(tmp_path: Path, limits: CorpusLimits, build, message: str) -> None:  # noqa: ANN001
    path = build(tmp_path / "in.xlsx")
    start = time.monotonic()
    with pytest.raises(CorpusInputError) as raised:
        read_corpus_file(path, limits=limits)
    assert time.monotonic() - start < 5
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)
    assert "\n" not in str(raised.value)
    read_corpus_file(path)  # within the defaults, the same file reads


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: workbook(p, [PAIR.encode()], with_workbook=False),
         "cannot be read as XLSX: There is no item named 'xl/workbook.xml' in the archive"),
        (lambda p: workbook(p, [b"<row><c><v>1</v></row>"]), "cannot be read as XLSX: mismatched tag: line 1"),
        (lambda p: workbook(p, [PAIR.encode()], sheet_head=b'<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">]>'),
         "cannot be read as XLSX: xl/worksheets/sheet1.xml declares a DTD, which no Excel workbook does"),
    ],
)
def test_a_malformed_workbook_is_a_one_line_error(tmp_path: Path, build, message: str) -> None:  # noqa: ANN001
    path = build(tmp_path / "bad.xlsx")
    done = kcli("corpus", "build", str(path), "--out", str(tmp_path / "out"), timeout=CLI_SECONDS)
    assert done.returncode == 2
    assert one_line_error(done.stderr).startswith(f"error: {path}: {message}")


def test_deep_jsonl_in_a_corpus_names_the_line_and_the_option(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"ko": "한옥", "en": "A hanok"}\n{"ko": "x", "en": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    done = kcli("corpus", "build", str(path), "--out", str(tmp_path / "out"), timeout=CLI_SECONDS)
    assert done.returncode == 2 and one_line_error(done.stderr) == (
        f"error: {path} line 2: JSON nested more than 100 levels deep (raise the limit with --max-json-depth)")
    limits = CorpusLimits(max_json_depth=3)
    path.write_text('{"ko": "한옥", "en": "A hanok", "tags": [[["x"]]]}\n')
    with pytest.raises(CorpusInputError, match=r"line 1: JSON nested more than 3 levels deep"):
        read_corpus_file(path, limits=limits)


def test_ragged_csv_lines_are_rejected_rows_not_shifted_columns(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("ko,en\n"
                    "한옥 마당은 넓다.,The hanok yard is wide.\n"
                    "기와지붕,A tiled roof, in the snow\n"  # an unquoted comma: three fields
                    "송편\n"  # one field
                    '단오는 명절이다.,"Dano is a holiday, in summer."\n', encoding="utf-8")
    result = run_corpus_build([path], tmp_path / "out", val_fraction=0.0)
    rows = {r["key"]: r for r in result.manifest.read_table().to_pylist()}
    assert {k: (r["status"], r["reason"]) for k, r in rows.items()} == {
        "pairs.csv:1": ("ok", None), "pairs.csv:2": ("rejected", "field_count=3/2"),
        "pairs.csv:3": ("rejected", "field_count=1/2"), "pairs.csv:4": ("ok", None)}
    assert (rows["pairs.csv:1"]["ko"], rows["pairs.csv:1"]["en"]) == ("한옥 마당은 넓다.", "The hanok yard is wide.")
    assert rows["pairs.csv:4"]["en"] == "Dano is a holiday, in summer."
    assert result.stats["dropped/field_count"] == 2


def test_every_line_one_field_too_many_no_longer_shifts_every_column(tmp_path: Path) -> None:
    """pandas took the extra field as an index and read ``ko`` from the second field of every line."""
    path = tmp_path / "pairs.csv"
    path.write_text("ko,en\n1,한옥 마당은 넓다.,The hanok yard is wide.\n2,송편은 떡이다.,Songpyeon is a rice cake.\n",
                    encoding="utf-8")
    rows = run_corpus_build([path], tmp_path / "out").manifest.read_table().to_pylist()
    assert [(r["ko"], r["status"], r["reason"]) for r in rows] == [
        ("1", "rejected", "field_count=3/2"), ("2", "rejected", "field_count=3/2")]


@pytest.mark.parametrize(("name", "text"), [
    ("pairs.jsonl", '{"ko": "한옥 마당은 넓다.", "en": "The hanok yard is wide."}\n'
                    '{"ko": "송편은\\u0000 떡이다.", "en": "Songpyeon is a rice cake."}\n'
                    '{"ko": "단오는 명절이다.", "en": "Dano is\\u001b[31m a holiday."}\n'),
    ("pairs.csv", "ko,en\n한옥 마당은 넓다.,The hanok yard is wide.\n송편은\0 떡이다.,Songpyeon is a rice cake.\n"
                  "단오는 명절이다.,Dano is\x1b[31m a holiday.\n"),
])
def test_control_characters_reject_the_pair(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    rows = run_corpus_build([tmp_path / name], tmp_path / "out", val_fraction=0.0).manifest.read_table().to_pylist()
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("ok", None), ("rejected", "control_character"), ("rejected", "control_character")]
    assert all("\0" not in r["ko"] + r["en"] for r in rows if r["status"] == "ok")


def _folder(root: Path) -> Path:
    root.mkdir()
    for seed, name in enumerate(("a", "b")):
        (root / f"{name}.jpg").write_bytes(images.jpeg(seed=seed))
    (root / "a.json").write_text(json.dumps({"title": "매화"}, ensure_ascii=False))
    (root / "b.json").write_text('{"title": "x", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return root


def test_a_deep_sidecar_fails_its_row_and_the_folder_goes_on(tmp_path: Path) -> None:
    root = _folder(tmp_path / "archive")
    done = kcli("ingest", "folder", str(root), "--out", str(tmp_path / "out"), "--json", timeout=CLI_SECONDS)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["stats"] == {"total": 2, "kept": 1, "failed/bad_sidecar": 1}
    rows = ingest_folder(FolderIngestConfig(root=str(root), max_json_depth=100), tmp_path / "lib").manifest
    reasons = {r["key"]: (r["status"], r["reason"]) for r in rows.read_table().to_pylist()}
    assert reasons == {"a": ("ok", None), "b": ("failed", "bad_sidecar:too_deep(max_json_depth=100)")}


def test_json_lists_nested_to_crash_pyarrow_are_refused(tmp_path: Path) -> None:
    """pyarrow's JSON reader dies with a segmentation fault near 30,000 levels: the line is refused first."""
    deep = '{"url": "http://example.org/b.jpg", "file_name": "b.jpg", "m": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    listing = tmp_path / "list.jsonl"
    listing.write_text('{"url": "http://example.org/a.jpg", "file_name": "a.jpg"}\n' + deep)
    done = kcli("ingest", "urls", str(listing), "--out", str(tmp_path / "out"), timeout=CLI_SECONDS)
    assert done.returncode == 2 and one_line_error(done.stderr) == (
        f"error: {listing} line 2: JSON nested more than 100 levels deep (raise the limit with --set max_json_depth=N)")
    assert not (tmp_path / "out").exists()
    root = _folder(tmp_path / "archive")
    done = kcli("ingest", "folder", str(root), "--metadata", str(listing), "--out", str(tmp_path / "out"),
                timeout=CLI_SECONDS)
    assert done.returncode == 2 and one_line_error(done.stderr).startswith(f"error: {listing} line 2: JSON nested")
    assert not list((tmp_path / "out").rglob("*.parquet"))  # metadata is read when the input is staged


@pytest.mark.parametrize(("name", "text"), [("urls.txt", ""), ("urls.txt", "# only a comment\n\n"),
                                            ("urls.csv", "url,caption\n"), ("urls.csv", ""), ("urls.jsonl", "\n\n")])
def test_an_empty_url_list_is_an_error_not_an_empty_manifest(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    done = kcli("ingest", "urls", str(tmp_path / name), "--out", str(tmp_path / "out"), timeout=CLI_SECONDS)
    assert done.returncode == 2 and one_line_error(done.stderr) == (
        f"error: {tmp_path / name} lists no URLs (an empty file, or a header without rows)")
    assert not (tmp_path / "out").exists()


def test_a_ragged_csv_list_or_metadata_file_is_a_one_line_error(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("url,caption\nhttp://example.org/a.jpg,a\nhttp://example.org/b.jpg,b," + "x" * 5000 + "\n")
    done = kcli("ingest", "urls", str(listing), "--out", str(tmp_path / "out"), timeout=CLI_SECONDS)
    error = one_line_error(done.stderr)
    assert done.returncode == 2 and error.startswith(
        f"error: cannot read {listing} as csv: CSV parse error: Expected 2 columns, got 3: http://example.org/b.jpg,b,")
    assert len(error) < 400
    root = _folder(tmp_path / "archive")
    (root / "metadata.csv").write_text("file_name,title\na.jpg,매화\nb.jpg,x,y\n")
    done = kcli("ingest", "folder", str(root), "--out", str(tmp_path / "out"), timeout=CLI_SECONDS)
    assert done.returncode == 2 and one_line_error(done.stderr).startswith(
        f"error: cannot read {root / 'metadata.csv'} as csv: CSV parse error: Expected 2 columns, got 3")


def test_a_gzipped_parquet_list_that_inflates_like_a_bomb_is_refused(tmp_path: Path) -> None:
    """A ``.parquet.gz`` list is inflated in memory (Parquet needs random access): 200 MB from 200 KB was read whole."""
    listing = tmp_path / "list.parquet.gz"
    with gzip.open(listing, "wb") as handle:
        for _ in range(200):
            handle.write(bytes(1 << 20))
    done = kcli("ingest", "urls", str(listing), "--out", str(tmp_path / "out"), timeout=CLI_SECONDS)
    assert done.returncode == 2 and one_line_error(done.stderr) == (
        f"error: {listing} inflates more than 100 times its size, as a gzip bomb does; "
        "gunzip it first if the file is trusted")


@pytest.mark.parametrize(
    ("text", "limit", "too_deep"),
    [
        ('{"a": [1, {"b": 2}]}', 3, False),
        ('{"a": [1, {"b": [2]}]}', 3, True),
        ('{"a": "[[[[[[[[", "b": "{{{{{{"}', 1, False),  # brackets in strings do not count
        ('{"a": "\\"[[[[", "b": [[[]]]}', 3, True),  # nor does an escaped quote end the string
        ("[]" * 1000, 1, False),  # many brackets, shallow
        (b"[" * 101 + b"]" * 101, 100, True),
        (b'["' + b"\\" * 50_000, 5, False),  # an unterminated string: measured, not rescanned per quote
    ],
)
def test_json_depth_is_measured_without_parsing(text: str | bytes, limit: int, too_deep: bool) -> None:
    assert json_too_deep(text, limit) is too_deep
