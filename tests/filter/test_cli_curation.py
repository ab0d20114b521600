"""``kcli ingest folder`` of photographs without any text, then ``kcli filter`` with its defaults, as a user would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.filter.images import COPIES, encode, photo
from tests.helpers.cli import kcli

DISTINCT = 8
TEXT_RULES = {"boilerplate_text", "text_length"}


def _photo_folder(root: Path) -> set[str]:
    """Distinct photographs plus planted copies; returns the names of the planted copies."""
    root.mkdir()
    for seed in range(DISTINCT):
        (root / f"p{seed}.jpg").write_bytes(encode(photo(seed, (400, 300)), "JPEG", quality=90))
    shutil.copy(root / "p0.jpg", root / "p0-copy.jpg")
    (root / "p1-crop.jpg").write_bytes(COPIES["crop_5pct"](photo(1, (400, 300))))
    (root / "p2-border.jpg").write_bytes(COPIES["border"](photo(2, (400, 300))))
    (root / "p3-small.jpg").write_bytes(COPIES["resize_half"](photo(3, (400, 300))))
    return {"p0-copy", "p1-crop", "p2-border", "p3-small"}


@pytest.mark.slow  # three CLI processes: about 15 s here
def test_uncaptioned_folder_keeps_every_distinct_photo(tmp_path: Path) -> None:
    planted = _photo_folder(tmp_path / "photos")
    done = kcli("ingest", "folder", str(tmp_path / "photos"), "--out", str(tmp_path / "m"), "--json")
    assert done.returncode == 0, done.stderr
    explained = kcli("filter", "--explain", str(tmp_path / "m"), "--json")
    assert explained.returncode == 0, explained.stderr
    plan = json.loads(explained.stdout)
    assert {r["rule"] for r in plan["skipped_rules"]} == TEXT_RULES
    assert {r["rule"]: r["runs"] for r in plan["rules"]}["blur"] is True
    assert not (tmp_path / "f").exists()  # --explain runs nothing

    done = kcli("filter", str(tmp_path / "m"), "--out", str(tmp_path / "f"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {r["rule"] for r in result["skipped_rules"]} == TEXT_RULES
    assert result["stats"]["kept"] == DISTINCT
    assert result["stats"]["dropped/duplicate_of"] == len(planted)
    assert result["stats"]["skipped_rules/text_length"] == 1
    assert not any(k.startswith("dropped/") and k != "dropped/duplicate_of" for k in result["stats"])
    summary = json.loads((tmp_path / "f" / "report" / "summary.json").read_text(encoding="utf-8"))
    assert {r["rule"] for r in summary["skipped_rules"]} == TEXT_RULES


def test_explain_prints_a_table_of_rules(sample_manifest, tmp_path: Path) -> None:  # noqa: ANN001
    config = tmp_path / "scoped.toml"
    config.write_text('[[rules]]\nfilter = "blur"\nwhen = { paper = "hanji" }\n\n'
                      '[[rules]]\nfilter = "text_length"\ncolumn = "caption_ko"\n\n'
                      '[[rules]]\nfilter = "boilerplate_text"\n', encoding="utf-8")
    done = kcli("filter", "--explain", str(sample_manifest.path), "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert [(r["rule"], r["runs"]) for r in plan["rules"]] == [
        ("blur", False), ("text_length", False), ("boilerplate_text", True)]
    assert plan["skipped_rules"] == [
        {"rule": "blur", "reason": "scoped with when on column 'paper', which the manifest does not have"},
        {"rule": "text_length", "reason": "needs column 'caption_ko', which the manifest does not have"}]
    table = kcli("filter", "--explain", str(sample_manifest.path), "--config", str(config))
    assert table.returncode == 0, table.stderr
    assert "skipped" in table.stdout and "reads 'alt_text'" in table.stdout
    missing_out = kcli("filter", str(sample_manifest.path))
    assert missing_out.returncode == 2 and "--out is required" in missing_out.stderr
