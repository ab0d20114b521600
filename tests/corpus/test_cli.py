"""``kcli corpus build`` and ``kcli caption`` as a user runs them: JSON results, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.caption.rows import ink_rows
from tests.corpus.inputs import CSV_TEXT, XLSX_ROWS, write_xlsx
from tests.helpers.cli import kcli
from tests.helpers.manifests import write_rows


def test_corpus_build_on_xlsx_and_csv_reports_the_funnel_and_resumes(tmp_path: Path) -> None:
    xlsx = write_xlsx(tmp_path / "pairs.xlsx", ("원문", "번역문"), [r[:2] for r in XLSX_ROWS])
    (tmp_path / "pairs.csv").write_text(CSV_TEXT, encoding="utf-8")
    args = ("corpus", "build", str(xlsx), str(tmp_path / "pairs.csv"), "--out", str(tmp_path / "out"), "--json",
            "--val-fraction", "0")
    done = kcli(*args)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == 11
    assert result["stats"] == {
        "total": 11, "kept": 4, "split/train": 4, "input/pairs.xlsx": 8, "input/pairs.csv": 3,
        "dropped/empty": 1, "dropped/identical": 1, "dropped/wrong_script_ko": 1, "dropped/wrong_script_en": 1,
        "dropped/length_ratio": 1, "dropped/duplicate": 2,
    }
    again = json.loads(kcli(*args).stdout)
    assert again["shards_skipped"] == 1 and again["fingerprint"] == result["fingerprint"]
    changed = kcli(*args[:-1], "0.5")  # another split into the same folder is refused, not mixed
    assert changed.returncode == 2 and "config.val_fraction changed" in changed.stderr
    assert len(changed.stderr.strip().splitlines()) == 1


def test_corpus_build_without_known_columns_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    done = kcli("corpus", "build", str(tmp_path / "x.csv"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'x.csv'}: cannot tell which columns hold Korean and English (columns: a, b); "
        "name them 원문/번역문, ko/en or korean/english, or pass --ko-col and --en-col"
    ]


def test_caption_with_a_template_on_a_missing_column_stops_before_work(tmp_path: Path) -> None:
    manifest = write_rows(tmp_path / "in", ink_rows())
    config = tmp_path / "caption.toml"
    config.write_text('[[ko]]\nbackend = "template"\ntemplate = "{paper_type}, {brush}"\n', encoding="utf-8")
    done = kcli("caption", str(manifest.path), "--config", str(config), "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ko[0]:template: template '{paper_type}, {brush}' needs column 'brush', which ")
    assert not (tmp_path / "out").exists()


def test_corpus_limits_are_options_and_out_may_not_hold_an_input(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    xlsx = write_xlsx(tmp_path / "in" / "pairs.xlsx", ("원문", "번역문"), [r[:2] for r in XLSX_ROWS])
    tight = kcli("corpus", "build", str(xlsx), "--out", str(tmp_path / "tight"), "--max-xlsx-rows", "3")
    assert tight.returncode == 2 and "Traceback" not in tight.stderr
    assert len(tight.stderr.strip().splitlines()) == 1 and "--max-xlsx-rows" in tight.stderr
    assert kcli("corpus", "build", str(xlsx), "--out", str(tmp_path / "loose"), "--max-xlsx-rows", "9").returncode == 0
    holding = kcli("corpus", "build", str(xlsx), "--out", str(tmp_path / "in"))
    assert holding.returncode == 2 and "contains the input" in holding.stderr, holding.stderr
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["pairs.xlsx"]  # nothing written beside it
