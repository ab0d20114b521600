"""``filter_failed`` lists every rule a row fails: per-row rules and percentile rules alike, in rule order."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import save_file

from kdata.errors import ConfigError
from kdata.filter.config import parse_filter_config
from kdata.filter.decide import decide
from kdata.filter.heads import random_aesthetic_state
from kdata.filter.run import run_filter
from kdata.manifest import open_manifest
from tests.filter.images import encode, row, scene
from tests.helpers.manifests import write_rows


def _scored(key: str, status: str, clip: float | None, failed: str | None = None) -> dict:
    reason = {"ok": None, "rejected": "too_small", "failed": "decode_error"}[status]
    return {"key": key, "status": status, "reason": reason, "clip_score": clip, "filter_failed": failed}


def test_percentile_failures_are_listed_for_ok_and_already_rejected_rows(tmp_path: Path) -> None:
    rows = [_scored(f"r{i}", "ok", i / 10) for i in range(1, 7)]  # percentile 50 of 0.1 ... 0.6 is 0.35
    rows += [_scored("s-low", "rejected", 0.05, "min_side"), _scored("s-high", "rejected", 0.9, "min_side"),
             _scored("s-none", "rejected", None, "min_side"), _scored("x-failed", "failed", None)]
    scored = write_rows(tmp_path / "scored", rows)
    config = parse_filter_config({"clip": {"model": "tiny-clip"}, "dedup": {"exact_bytes": False},
                                  "rules": [{"filter": "clip_score", "top_percent": 50, "name": "clip_top"},
                                            {"filter": "min_side", "min": 64}]})
    result = decide(scored, config)
    assert result.thresholds == {"clip_top": pytest.approx(0.35)}
    # Only rows the per-row pass kept change their reason; rejected rows keep theirs (and their stats class).
    assert result.reasons == {"r1": "low_clip_score", "r2": "low_clip_score", "r3": "low_clip_score"}
    # A missing score fails a percentile rule as it fails an absolute one ("no_text"); names in rule order.
    assert result.failed == {"r1": "clip_top", "r2": "clip_top", "r3": "clip_top", "s-low": "clip_top,min_side",
                             "s-none": "clip_top,min_side"}


def test_filter_failed_in_the_output_manifest_names_every_failed_rule(tmp_path: Path) -> None:
    rows = [row(f"img-{i}", encode(scene(seed=i)), alt_text="x" if i in (1, 4) else f"그림 번호 {i}")
            for i in range(8)]
    source = write_rows(tmp_path / "in", rows, shards=2)
    save_file(random_aesthetic_state(32, seed=3), str(tmp_path / "aesthetic.safetensors"))
    config = parse_filter_config({
        "clip": {"model": "tiny-open-clip", "cache_dir": str(tmp_path / "cache"), "batch_size": 4},
        "aesthetic": {"weights": str(tmp_path / "aesthetic.safetensors")},
        "dedup": {"phash_max_distance": -1},
        "rules": [{"filter": "aesthetic_score", "top_percent": 50},
                  {"filter": "text_length", "column": "alt_text", "min_chars": 2}],
    })
    result = run_filter(source.path, config, tmp_path / "out", report=False)
    threshold = result.thresholds["aesthetic_score"]
    table = open_manifest(tmp_path / "out").read_table(["key", "status", "reason", "aesthetic_score",
                                                        "filter_failed"]).to_pylist()
    expected = {}
    for r in table:
        failed = (["aesthetic_score"] if r["aesthetic_score"] < threshold else []) + (
            ["text_length"] if r["key"] in ("img-1", "img-4") else [])
        reason = "text_too_short" if "text_length" in failed else "low_aesthetic_score" if failed else None
        expected[r["key"]] = ("rejected" if failed else "ok", reason, ",".join(failed) or None)
    assert {r["key"]: (r["status"], r["reason"], r["filter_failed"]) for r in table} == expected
    # Both paths are taken: a row kept by the per-row pass and dropped by the percentile, and a row rejected
    # by the per-row pass that also falls below the percentile (listed, reason unchanged).
    assert result.stats["dropped/low_aesthetic_score"] == 3 and result.stats["dropped/text_too_short"] == 2
    assert ("rejected", "text_too_short", "aesthetic_score,text_length") in expected.values()


def test_a_rule_name_with_a_comma_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"rules\[1\]: rule name 'a,b' may not hold a comma"):
        parse_filter_config({"rules": [{"filter": "min_side", "min": 64, "name": "a,b"}]})
