"""``kcli corpus build``: reading, column detection, cleaning reasons, the split and the funnel."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kdata.corpus.build import run_corpus_build
from kdata.corpus.clean import CleanRules, check_pair
from kdata.corpus.readers import CorpusInputError, read_corpus_file
from kdata.corpus.sample import CATEGORIES, SAMPLE_CORPUS
from kdata.errors import ConfigError
from tests.corpus.inputs import CSV_TEXT, XLSX_ROWS, write_xlsx


def expected_split(ko: str, en: str, val_fraction: float) -> str:
    """The documented rule, computed independently: sha256 of the case-folded pair, first 64 bits."""
    digest = hashlib.sha256(f"{ko.casefold()}\t{en.casefold()}".encode()).hexdigest()
    return "validation" if int(digest[:16], 16) / 2**64 < val_fraction else "train"


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    xlsx = write_xlsx(tmp_path / "pairs.xlsx", ("원문", "번역문"), [r[:2] for r in XLSX_ROWS])
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(CSV_TEXT, encoding="utf-8")
    return xlsx, csv_path


def test_xlsx_with_wonmun_beonyeokmun_gives_rows_reasons_and_split(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    xlsx, _ = inputs
    result = run_corpus_build([xlsx], tmp_path / "out", val_fraction=0.5)
    rows = result.manifest.read_table().to_pylist()
    assert [r["key"] for r in rows] == [f"pairs.xlsx:{n}" for n in range(1, 9)]
    assert [r["reason"] for r in rows] == [r[2] for r in XLSX_ROWS]
    assert [r["status"] for r in rows] == ["ok", "ok"] + ["rejected"] * 6
    assert [r["split"] for r in rows] == [expected_split(k, e, 0.5) for k, e, _ in XLSX_ROWS[:2]] + [None] * 6
    assert rows[7]["ko"] == "한복은 한국의 전통 의복이다."  # stored normalised
    assert {r["source"] for r in rows} == {"pairs.xlsx"}
    kept_splits = [expected_split(ko, en, 0.5) for ko, en, _ in XLSX_ROWS[:2]]
    splits = {f"split/{s}": kept_splits.count(s) for s in set(kept_splits)}
    assert result.stats == {
        "total": 8, "kept": 2, "input/pairs.xlsx": 8, **splits,
        "dropped/empty": 1, "dropped/identical": 1, "dropped/wrong_script_ko": 1, "dropped/wrong_script_en": 1,
        "dropped/length_ratio": 1, "dropped/duplicate": 1,
    }
    assert json.loads((tmp_path / "out" / "stats.json").read_text()) == result.stats


def test_csv_with_ko_en_and_a_duplicate_in_another_file(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    xlsx, csv_path = inputs
    result = run_corpus_build([xlsx, csv_path], tmp_path / "out", val_fraction=0.0)
    rows = {r["key"]: r for r in result.manifest.read_table().to_pylist()}
    assert [rows[f"pairs.csv:{n}"]["status"] for n in (1, 2, 3)] == ["ok", "ok", "rejected"]
    assert rows["pairs.csv:2"]["en"] == "A hanok with a tiled roof, in the snow"  # quoted comma kept
    assert rows["pairs.csv:3"]["reason"] == "duplicate=pairs.xlsx:2"  # first copy is in the other file
    assert [rows[f"pairs.csv:{n}"]["category"] for n in (1, 2, 3)] == ["festival", "hanok", "food"]
    assert {r["split"] for r in rows.values() if r["status"] == "ok"} == {"train"}  # val_fraction 0
    assert result.stats["input/pairs.csv"] == 3 and result.stats["input/pairs.xlsx"] == 8
    assert result.stats["kept"] == 4 and result.stats["dropped/duplicate"] == 2


def test_split_is_stable_whatever_the_order_of_inputs(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    xlsx, csv_path = inputs
    one = run_corpus_build([xlsx, csv_path, SAMPLE_CORPUS], tmp_path / "a", val_fraction=0.3).manifest.read_table()
    two = run_corpus_build([SAMPLE_CORPUS, csv_path, xlsx], tmp_path / "b", val_fraction=0.3).manifest.read_table()
    split_one = {(r["ko"], r["en"]): r["split"] for r in one.to_pylist() if r["status"] == "ok"}
    split_two = {(r["ko"], r["en"]): r["split"] for r in two.to_pylist() if r["status"] == "ok"}
    assert split_one == split_two and len(split_one) == 301 + 3  # the sample, plus the new CSV/XLSX pairs
    share = list(split_one.values()).count("validation") / len(split_one)
    assert 0.2 < share < 0.4


def test_english_in_wonmun_is_read_as_the_english_side(tmp_path: Path) -> None:
    # en->ko public sets put the English source in 원문; the Korean side is whichever column is Hangul.
    path = write_xlsx(tmp_path / "en-ko.xlsx", ("원문", "번역문"), [("A bowl of bibimbap", "비빔밥 한 그릇")])
    corpus = read_corpus_file(path)
    assert (corpus.ko_col, corpus.en_col) == ("번역문", "원문")


def test_columns_named_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text('id\tkor_text\teng_text\n1\t"따옴표" 속 한옥\tA "quoted" hanok\n', encoding="utf-8")
    with pytest.raises(CorpusInputError, match=r"cannot tell which columns hold Korean and English \(columns: id, "
                                               r"kor_text, eng_text\); name them 원문/번역문"):
        read_corpus_file(path)
    with pytest.raises(CorpusInputError, match=r"no column 'korean'; it has: id, kor_text, eng_text"):
        read_corpus_file(path, ko_col="korean", en_col="eng_text")
    corpus = read_corpus_file(path, ko_col="kor_text", en_col="eng_text")
    assert corpus.rows[0]["kor_text"] == '"따옴표" 속 한옥'  # TSV: quotes are text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("pairs.jsonl", '{"ko": "한옥", "en": "A hanok"}\n{"ko": "broken"\n', "pairs.jsonl line 2: not valid JSON"),
        ("pairs.jsonl", '["한옥", "A hanok"]\n', "line 1: expected a JSON object, got list"),
        ("pairs.txt", "한옥\tA hanok\n", "unsupported file type '.txt'"),
        ("pairs.xlsx", "not a spreadsheet", "cannot be read as XLSX"),
    ],
)
def test_unreadable_inputs_are_one_line_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusInputError) as raised:
        read_corpus_file(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_cp949_csv_from_korean_excel_is_read(tmp_path: Path) -> None:
    path = tmp_path / "cp949.csv"
    path.write_bytes("korean,english\n한옥 마당,A hanok yard\n".encode("cp949"))
    corpus = read_corpus_file(path)
    assert corpus.rows == [{"korean": "한옥 마당", "english": "A hanok yard"}]


def test_bad_val_fraction_and_no_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"corpus build: val_fraction = 1.5: expected float >= 0 and < 1$"):
        run_corpus_build([SAMPLE_CORPUS], tmp_path / "out", val_fraction=1.5)
    with pytest.raises(ConfigError, match="at least one input"):
        run_corpus_build([], tmp_path / "out")


def test_bundled_sample_corpus_is_clean_and_covers_every_topic() -> None:
    rows = [json.loads(line) for line in SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 301 and {r["category"] for r in rows} == set(CATEGORIES)
    assert all(check_pair(r["ko"], r["en"], CleanRules()) is None for r in rows)
    assert len({r["ko"] for r in rows}) == len({r["en"] for r in rows}) == 301
