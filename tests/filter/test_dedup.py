"""Dedup end to end: exact bytes, exact pixels, pHash near duplicates; one deterministic representative."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageFilter

from kdata.filter.config import parse_filter_config
from kdata.filter.run import run_filter
from kdata.manifest import open_manifest
from kdata.runner import RunOptions
from kdata.runner.shard import WORK_DIR
from tests.filter.images import decisions, encode, recoloured, row, scene
from tests.helpers.manifests import write_rows

DEDUP_ONLY = {"dedup": {"phash_max_distance": 4, "color_max_distance": 6.0}}


def _rows() -> list[dict]:
    original = scene((240, 200), seed=1)
    other = scene((240, 200), seed=2)
    return [
        row("b-copy", encode(original)),  # same bytes as "a-orig"
        row("a-orig", encode(original)),
        row("c-pixels", encode(original, compress_level=1)),  # same pixels, other bytes
        row("d-small", encode(original.resize((120, 100)), "JPEG", quality=80)),  # near duplicate, lower res
        row("e-big", encode(original.resize((480, 400), Image.Resampling.BICUBIC), "JPEG", quality=90)),
        row("f-other", encode(other)),
        row("g-recolour", encode(recoloured(original))),  # same layout, other colour: the colour guard keeps it
    ]


def test_groups_keep_the_highest_resolution_then_the_smallest_key(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in", _rows(), shards=2)
    run_filter(source.path, parse_filter_config(DEDUP_ONLY), tmp_path / "out", report=False)
    assert decisions(tmp_path / "out") == {
        "a-orig": ("rejected", "duplicate_of=e-big"), "b-copy": ("rejected", "duplicate_of=e-big"),
        "c-pixels": ("rejected", "duplicate_of=e-big"), "d-small": ("rejected", "duplicate_of=e-big"),
        "e-big": ("ok", None), "f-other": ("ok", None), "g-recolour": ("ok", None)}
    table = open_manifest(tmp_path / "out").read_table(["key", "duplicate_of"]).to_pylist()
    assert {r["key"]: r["duplicate_of"] for r in table}["d-small"] == "e-big"


def test_exact_modes_and_the_colour_guard_can_be_switched(tmp_path: Path) -> None:
    rows = [r for r in _rows() if r["key"] != "e-big"]
    source = write_rows(tmp_path / "in", rows)
    exact_bytes_only = {"dedup": {"phash_max_distance": -1, "exact_pixels": False}}
    run_filter(source.path, parse_filter_config(exact_bytes_only), tmp_path / "bytes", report=False)
    assert {k for k, v in decisions(tmp_path / "bytes").items() if v[0] == "rejected"} == {"b-copy"}
    no_guard = {"dedup": {"phash_max_distance": 4, "color_max_distance": -1}}
    run_filter(source.path, parse_filter_config(no_guard), tmp_path / "noguard", report=False)
    assert decisions(tmp_path / "noguard")["g-recolour"] == ("rejected", "duplicate_of=a-orig")


def test_prefer_score_breaks_resolution_ties(tmp_path: Path) -> None:
    data = encode(scene(seed=4))
    rows = [row("x1", data, quality=0.2), row("x2", data, quality=0.9), row("x3", data, quality=0.5)]
    source = write_rows(tmp_path / "in", rows)
    run_filter(source.path, parse_filter_config({"dedup": {"prefer": "quality"}}), tmp_path / "out", report=False)
    assert decisions(tmp_path / "out") == {"x1": ("rejected", "duplicate_of=x2"), "x2": ("ok", None),
                                           "x3": ("rejected", "duplicate_of=x2")}


def test_rows_rejected_by_a_rule_do_not_take_part_in_dedup(tmp_path: Path) -> None:
    original = scene((240, 200), seed=1)
    big_blurred = original.resize((480, 400)).filter(ImageFilter.GaussianBlur(3))  # pHash-equal, larger
    source = write_rows(tmp_path / "in", [row("a-orig", encode(original)), row("z-big-blurred", encode(big_blurred))])
    with_blur = parse_filter_config({**DEDUP_ONLY, "rules": [{"filter": "blur", "min_variance": 40.0}]})
    run_filter(source.path, with_blur, tmp_path / "out", report=False)
    assert decisions(tmp_path / "out") == {"a-orig": ("ok", None), "z-big-blurred": ("rejected", "blur")}
    run_filter(source.path, parse_filter_config(DEDUP_ONLY), tmp_path / "no-rule", report=False)
    assert decisions(tmp_path / "no-rule")["a-orig"] == ("rejected", "duplicate_of=z-big-blurred")


def test_rerun_and_resume_give_the_same_manifest(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in", _rows(), shards=3)
    config = parse_filter_config(DEDUP_ONLY)
    first = run_filter(source.path, config, tmp_path / "out", report=False)
    again = run_filter(source.path, config, tmp_path / "out", report=False)
    assert again.run.shards_skipped == 3 and again.manifest.fingerprint == first.manifest.fingerprint
    # An interrupted run: one final shard, the decisions and one scored shard were not finished.
    out = tmp_path / "out"
    (out / WORK_DIR / "shard-00001.parquet.done.json").unlink()
    (out / WORK_DIR / "filter" / "decisions.parquet").unlink()
    (out / WORK_DIR / "filter" / "scored" / WORK_DIR / "shard-00002.parquet.done.json").unlink()
    expected = decisions(out)
    resumed = run_filter(source.path, config, out, report=False)
    assert (resumed.run.shards_run, resumed.run.shards_skipped) == (1, 2)
    assert decisions(out) == expected
    run_filter(source.path, config, tmp_path / "fresh", RunOptions(workers=2), report=False)  # two worker processes
    assert decisions(tmp_path / "fresh") == expected
