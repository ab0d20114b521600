"""Corpora shipped as one JSON document (AI Hub's layout): records read as a stream, limits kept, errors one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdata.corpus import jsonarray
from kdata.corpus.build import run_corpus_build
from kdata.corpus.jsonarray import read_json_records
from kdata.corpus.limits import CorpusLimits
from kdata.corpus.readers import CorpusInputError, read_corpus_file
from kdata.jsondepth import json_too_deep
from kdata.manifest import open_manifest

PAIRS = [
    {"sn": 1, "원문": "한복은 한국의 전통 의복이다.", "번역문": "Hanbok is the traditional clothing of Korea."},
    {"sn": 2, "원문": "송편은 추석에 먹는 떡이다.", "번역문": "Songpyeon are rice cakes eaten at Chuseok."},
    {"sn": 3, "원문": "김치", "번역문": "김치"},
]
# What a chunked scanner must not be fooled by: brackets and quotes inside strings, escapes, \u escapes.
TRICKY = [
    {"ko": '괄호 "{[" 안의 한옥', "en": 'A hanok in "{[" brackets \\ and a backslash', "tags": [{"a": [1, 2]}, []]},
    {"ko": "\ud55c\uc625 \\\" 끝", "en": "ends with a quote \"", "n": -1.5e3, "ok": True, "none": None},
    {"ko": "", "en": "}", "nested": {"deep": {"er": ["]"]}}},
]


def _write(path: Path, data: object, **dump: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, **dump), encoding="utf-8")
    return path


def test_an_array_of_wonmun_beonyeokmun_records_builds_a_corpus(tmp_path: Path) -> None:
    path = _write(tmp_path / "pairs.json", PAIRS, indent=2)
    corpus = read_corpus_file(path)
    assert (corpus.ko_col, corpus.en_col, corpus.rows) == ("원문", "번역문", PAIRS)
    result = run_corpus_build([path], tmp_path / "out")
    rows = open_manifest(result.manifest.path).read_table().to_pylist()
    assert [(r["key"], r["status"], r["reason"]) for r in rows] == [
        ("pairs.json:1", "ok", None), ("pairs.json:2", "ok", None), ("pairs.json:3", "rejected", "identical")]
    assert rows[0]["ko"] == PAIRS[0]["원문"] and rows[0]["en"] == PAIRS[0]["번역문"]


def test_records_under_a_key_beside_metadata(tmp_path: Path) -> None:
    data = {"name": "한국어-영어 번역 말뭉치", "languages": ["ko", "en"], "counts": {"rows": 3}, "empty": [],
            "data": PAIRS, "version": "1.0"}
    path = tmp_path / "aihub.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data, ensure_ascii=False).encode())  # with a BOM, as Windows saves
    assert read_corpus_file(path).rows == PAIRS


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_chunk_boundaries_anywhere_read_the_same_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         chunk: int) -> None:
    monkeypatch.setattr(jsonarray, "CHUNK_CHARS", chunk)
    cases = [(TRICKY, TRICKY), ({"meta": {"x": "]}"}, "empty": [], "data": TRICKY}, TRICKY), ([], []),
             ({"data": []}, [])]
    for data, expected in cases:
        path = _write(tmp_path / "t.json", data, indent=1)
        assert read_json_records(path, max_depth=100) == expected
        path = _write(tmp_path / "t.json", data)  # no spaces at all
        assert read_json_records(path, max_depth=100) == expected


def test_the_text_is_read_as_a_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonarray, "CHUNK_CHARS", 256)
    records = [{"ko": f"문장 {i}", "en": f"sentence {i}"} for i in range(2000)]
    path = _write(tmp_path / "big.json", {"data": records})
    widest = 0
    more = jsonarray._Scanner._more

    def watched(self: jsonarray._Scanner) -> bool:
        nonlocal widest
        widest = max(widest, len(self.buf))
        return more(self)

    monkeypatch.setattr(jsonarray._Scanner, "_more", watched)
    assert read_json_records(path, max_depth=100) == records
    assert path.stat().st_size > 60_000 and widest < 4 * 256  # a window of a few chunks, never the file


def test_the_depth_limit_counts_from_the_top_of_the_document(tmp_path: Path) -> None:
    path = _write(tmp_path / "pairs.json", {"data": [{"ko": "한옥", "en": "A hanok", "tags": [["x"]]}]})
    text = path.read_text()
    assert not json_too_deep(text, 5) and json_too_deep(text, 4)  # {"data": [{"tags": [[: five levels
    assert len(read_corpus_file(path, limits=CorpusLimits(max_json_depth=5)).rows) == 1
    with pytest.raises(CorpusInputError, match=r"pairs.json record 1 of 'data': JSON nested more than 4 levels deep "
                                               r"\(raise the limit with --max-json-depth\)$"):
        read_corpus_file(path, limits=CorpusLimits(max_json_depth=4))
    path.write_text('{"meta": ' + "[" * 100_000 + "]" * 100_000 + ', "data": [{"ko": "x", "en": "y"}]}')
    with pytest.raises(CorpusInputError, match=r"the value of 'meta': JSON nested more than 100 levels deep"):
        read_corpus_file(path)
    path.write_text('[{"ko": "x", "en": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    with pytest.raises(CorpusInputError, match=r"record 1: JSON nested more than 100 levels deep"):
        read_corpus_file(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"ko": "한옥", "en": "A hanok"}, ["한옥", "A hanok"]]',
         "pairs.json record 2: expected a JSON object, got list"),
        ('{"train": [{"ko": "a"}], "valid": [{"ko": "b"}]}', "holds several arrays of records (train, valid)"),
        ('{"name": "corpus", "sizes": [1, 2]}', "no array of records under any key (keys: name, sizes)"),
        ('[{"ko": "한옥", "en": "A hanok"}, {"ko": "끝"', "the file ends inside record 2"),
        ('[{"ko": "한옥", "en": "A hanok"}] [1]', "more text after the end of the JSON document"),
        ('[{"ko": "한옥", "en": "A hanok",}]', "pairs.json record 1: not valid JSON"),
        ('[{"ko": "한옥"} {"ko": "집"}]', "expected ',' or ']' after a record"),
        ('"just a string"', "expected a JSON array of records, or an object holding one"),
        ("", "expected a JSON array of records, or an object holding one (found 'the end of the file')"),
    ],
)
def test_malformed_documents_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusInputError) as raised:
        read_json_records(path, max_depth=100)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pairs.json"
    path.write_bytes('[{"ko": "한옥", "en": "A hanok"}]'.encode("cp949"))
    with pytest.raises(CorpusInputError, match=r"pairs.json: not UTF-8 text; save it as UTF-8$"):
        read_corpus_file(path)
