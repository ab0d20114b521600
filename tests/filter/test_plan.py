"""Which rules run on a manifest: a rule needing a column the rows lack (or leave empty) is skipped, not applied."""

from __future__ import annotations

from pathlib import Path

from kdata.filter.config import parse_filter_config
from kdata.filter.plan import plan_rules
from kdata.filter.run import run_filter
from tests.filter.images import decisions, encode, photo, row
from tests.helpers.manifests import write_rows

RULES = {"rules": [
    {"filter": "text_length", "min_chars": 2},  # alt_text: blank on every row below
    {"filter": "caption_language", "column": "caption_ko"},  # a column the rows do not have
    {"filter": "blur", "when": {"category": "photo"}},  # scoped on a missing column: matches no row
    {"filter": "too_dark", "unless": {"category": "night"}},  # exempts no row: still runs on all
    {"filter": "min_side", "min": 100},
]}


def _rows() -> list[dict]:
    return [row("a", encode(photo(1, (200, 150))), alt_text="  "), row("b", encode(photo(2, (90, 90))), alt_text=None)]


def test_plan_names_each_skipped_rule_and_why(tmp_path: Path) -> None:
    manifest = write_rows(tmp_path / "in", _rows())
    plan = plan_rules(manifest, parse_filter_config(RULES))
    assert [(r.rule, r.runs, r.why) for r in plan.rules] == [
        ("text_length", False, "column 'alt_text' is empty on every row"),
        ("caption_language", False, "needs column 'caption_ko', which the manifest does not have"),
        ("blur", False, "scoped with when on column 'category', which the manifest does not have"),
        ("too_dark", True, "decoded pixels (quality metrics); unless on 'category' exempts no row (column missing)"),
        ("min_side", True, "decoded pixels (quality metrics)"),
    ]


def test_skipped_rules_reject_nothing_and_are_reported(tmp_path: Path) -> None:
    manifest = write_rows(tmp_path / "in", _rows())
    result = run_filter(manifest.path, parse_filter_config(RULES), tmp_path / "out", report=False)
    assert decisions(tmp_path / "out") == {"a": ("ok", None), "b": ("rejected", "too_small")}
    assert [r["rule"] for r in result.skipped_rules] == ["text_length", "caption_language", "blur"]
    assert result.stats["skipped_rules/blur"] == 1 and result.to_dict()["skipped_rules"] == result.skipped_rules


def test_one_row_with_text_makes_the_text_rule_run(tmp_path: Path) -> None:
    rows = [*_rows(), row("c", encode(photo(3, (200, 150))), alt_text="한옥 지붕")]
    plan = plan_rules(write_rows(tmp_path / "in", rows), parse_filter_config(RULES))
    assert plan.rules[0].runs and plan.rules[0].why == "reads 'alt_text'"
