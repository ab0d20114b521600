from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from kdata import inspect_columns
from kdata.inspect import inspect_manifest
from kdata.manifest import Lineage, write_manifest
from kdata.schema import IMAGE, conform_table
from kdata.textnorm import HANGUL_RANGES, HANGUL_RE2
from tests.helpers.cli import kcli
from tests.helpers.manifests import write_rows


def test_summaries_are_exact_on_small_manifests(tmp_path: Path) -> None:
    table = conform_table(
        pa.table({
            "key": ["a", "b", "c", "d"],
            "status": ["ok", "rejected", "rejected", "failed"],
            "reason": [None, "blur", "blur", "download:404"],
            "width": [10, 30, 20, None],
            "caption_ko": ["한복", "hanbok", "한복 hanbok", "!!"],
        }),
        IMAGE,
    )
    write_manifest(tmp_path / "m", [table.slice(0, 2), table.slice(2)], IMAGE, Lineage(stage="unit", config={}))
    summary = inspect_manifest(tmp_path / "m")
    assert summary["funnel"] == [
        {"status": "failed", "reason": "download:404", "rows": 1},
        {"status": "ok", "reason": "", "rows": 1},
        {"status": "rejected", "reason": "blur", "rows": 2},
    ]
    width = summary["columns"]["width"]
    assert (width["min"], width["median"], width["max"], width["nulls"]) == (10, 20, 30, 1)
    caption = summary["columns"]["caption_ko"]
    assert caption["script"] == {"hangul": 1, "latin": 1, "mixed": 1, "other": 1}
    assert caption["length"] == {"min": 2, "mean": 4.75, "max": 9}


def sample_rows(count: int) -> list[dict]:
    """Rows with a category, a prose caption, identifiers and numbers (deterministic)."""
    return [{"key": f"img-{i:05d}", "status": ["ok", "ok", "rejected", "failed"][i % 4],
             "reason": [None, None, "blur", "download:404"][i % 4], "url": f"https://example.org/{i}.jpg",
             "sha256": f"{i:064x}", "width": 100 + (i * 37) % 500, "height": None if i % 10 == 0 else 50 + i % 7,
             "category": ["hanbok", "hanok", "food"][i % 3],
             "caption_ko": ["한복 입은 여인", "a hanok roof", "비빔밥 bibimbap"][i % 3],
             "clip_score": (i % 13) / 13}
            for i in range(count)]


def test_string_columns_get_statistics_for_what_they_hold(tmp_path: Path) -> None:
    write_rows(tmp_path / "m", sample_rows(300), shards=3)
    columns = inspect_manifest(tmp_path / "m")["columns"]
    assert {name: columns[name]["role"] for name in ("key", "url", "sha256", "category", "caption_ko", "status")} == {
        "key": "identifier", "url": "identifier", "sha256": "identifier", "category": "categorical",
        "caption_ko": "prose", "status": "categorical"}
    assert columns["category"]["values"] == [{"value": "food", "rows": 100}, {"value": "hanbok", "rows": 100},
                                             {"value": "hanok", "rows": 100}]
    assert columns["status"]["values"] == [{"value": "ok", "rows": 150}, {"value": "failed", "rows": 75},
                                           {"value": "rejected", "rows": 75}]
    assert columns["caption_ko"]["script"] == {"hangul": 100, "latin": 100, "mixed": 100, "other": 0}
    assert columns["url"] == columns["key"] == {"type": "text", "role": "identifier", "count": 300, "nulls": 0}
    assert columns["category"]["length"] == {"min": 4, "mean": 5.0, "max": 6}


def test_inspect_agrees_with_duckdb_on_the_same_shards(tmp_path: Path) -> None:
    """The funnel, null counts and min/median/max as duckdb computes them over the same Parquet files."""
    duckdb = pytest.importorskip("duckdb", reason="duckdb is in the dev extra")
    write_rows(tmp_path / "m", sample_rows(1001), shards=4)
    summary = inspect_manifest(tmp_path / "m")
    files = f"read_parquet('{tmp_path / 'm' / 'data' / '*.parquet'}')"
    funnel = duckdb.sql(f"select status, coalesce(reason, '') r, count(*) n from {files} group by all order by all")
    assert [(f["status"], f["reason"], f["rows"]) for f in summary["funnel"]] == funnel.fetchall()
    for name in ("width", "height", "clip_score"):
        expected = duckdb.sql(f"select count({name}), count(*) - count({name}), min({name}), "
                              f"quantile_cont({name}, 0.5), max({name}) from {files}").fetchall()[0]
        column = summary["columns"][name]
        got = (column["count"], column["nulls"], column["min"], column["median"], column["max"])
        assert got == pytest.approx(expected, rel=1e-6), name
        assert column["median_exact"] is True


def test_medians_beyond_the_exact_limit_come_from_a_uniform_sample(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inspect_columns, "EXACT_VALUES", 200)
    rows = [{"key": f"k{i}", "status": "ok", "width": i} for i in range(2000)]
    write_rows(tmp_path / "m", rows, shards=5)
    width = inspect_manifest(tmp_path / "m")["columns"]["width"]
    assert (width["count"], width["min"], width["max"], width["median_exact"]) == (2000, 0, 1999, False)
    assert abs(width["median"] - 999.5) < 200  # 200 of 2,000 values sampled uniformly


def test_plain_parquet_and_hub_exports_are_inspected_with_what_a_stage_would_miss(tmp_path: Path) -> None:
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array([{"bytes": b"abc", "path": "a.jpg"}, {"bytes": None, "path": None}],
                                        image_type),
                      "text": ["한옥 마을", "a palace"], "label": [1, 2]})
    (tmp_path / "export" / "data").mkdir(parents=True)
    pq.write_table(table, tmp_path / "export" / "data" / "train-00000.parquet")
    summary = inspect_manifest(tmp_path / "export")
    assert (summary["kind"], summary["rows"], summary["shards"], summary["fingerprint"]) == ("parquet", 2, 1, None)
    assert summary["columns"]["image.bytes"] == {"type": "binary", "count": 1, "nulls": 1, "total_bytes": 3}
    assert summary["columns"]["label"]["median"] == 1.5
    assert summary["missing_for_stages"][0] == "images are in 'image' (datasets Image layout): read as image_bytes"
    assert summary["samples"][0] == {"text": "한옥 마을", "label": 1}
    pq.write_table(table.drop_columns(["image"]), tmp_path / "plain.parquet")
    plain = inspect_manifest(tmp_path / "plain.parquet")
    assert plain["missing_for_stages"][0].startswith("no image column (image_bytes, or an Image column")
    assert plain["funnel"] == []


@pytest.mark.slow  # three kcli processes: over 10 s on a loaded machine
def test_kcli_inspect_head_and_plain_parquet_on_the_command_line(tmp_path: Path) -> None:
    write_rows(tmp_path / "m", sample_rows(10), shards=2)
    done = kcli("inspect", str(tmp_path / "m"), "--head", "2", "--samples", "0", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [row["key"] for row in summary["head"]] == ["img-00000", "img-00001"] and summary["samples"] == []
    shown = kcli("inspect", str(tmp_path / "m" / "data" / "shard-00001.parquet"), "--head", "1")
    assert shown.returncode == 0, shown.stderr
    assert "plain Parquet (not a kcli manifest) · 5 rows · 1 files" in shown.stdout
    assert "img-00005" in shown.stdout and "food 2, hanbok 2, hanok 1" not in shown.stdout  # 5 rows: no category
    missing = kcli("inspect", str(tmp_path / "nothing"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: no such manifest: {tmp_path / 'nothing'}"


def test_the_script_split_matches_re2_on_every_range_edge() -> None:
    """The split is computed without a regex for Latin and only on non-ASCII strings for Hangul; Arrow's
    RE2 over the same strings with the documented character classes is the reference."""
    edges = [*(edge for first, last in HANGUL_RANGES for edge in (first - 1, first, last, last + 1)
               if not 0xD800 <= edge <= 0xDFFF),  # surrogates are no text
             0x41, 0x5A, 0x61, 0x7A, 0x40, 0x5B, 0x60, 0x7B, 0xE9, 0x3B1, 0x1F600, 0x20]
    rng = random.Random(0)
    values = pa.array(["", *("".join(chr(rng.choice(edges)) for _ in range(rng.randint(0, 4)))
                             for _ in range(5000))])
    summary = inspect_columns.TextSummary(role="prose")
    summary.add(values)
    hangul = pc.match_substring_regex(values, HANGUL_RE2).to_pylist()
    latin = pc.match_substring_regex(values, inspect_columns.LATIN).to_pylist()
    expected = Counter("mixed" if h and la else "hangul" if h else "latin" if la else "other"
                       for h, la in zip(hangul, latin))
    assert summary.to_dict()["script"] == dict(expected)


def test_shards_measured_on_threads_give_the_single_threaded_summary(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Many shards, nulls in every kind of column, a plain Parquet folder with null statuses, and medians
    past the exact limit (the sample depends on the order values are folded in): the same summary on one
    thread and on four."""
    from kdata import inspect

    monkeypatch.setattr(inspect_columns, "EXACT_VALUES", 300)
    rows = sample_rows(2000)
    for i, row in enumerate(rows):
        if i % 7 == 0:
            row.update(category=None, caption_ko=None, clip_score=None)
    write_rows(tmp_path / "m", rows, shards=9)
    plain = pa.table({"status": ["ok", None, "rejected"] * 50, "reason": [None, None, "blur"] * 50,
                      "flag": [True, None, False] * 50})
    (tmp_path / "plain").mkdir()
    for index in range(3):
        pq.write_table(plain.slice(index * 40), tmp_path / "plain" / f"part-{index}.parquet")
    summaries = {}
    for threads in (1, 4):
        monkeypatch.setattr(inspect, "_threads", lambda threads=threads: threads)
        summaries[threads] = [inspect_manifest(tmp_path / "m"), inspect_manifest(tmp_path / "plain")]
    assert summaries[1] == summaries[4]
    manifest, plain_summary = summaries[4]
    assert manifest["columns"]["clip_score"]["median_exact"] is False
    assert manifest["columns"]["category"]["nulls"] == len(range(0, 2000, 7))
    written = [row for index in range(3) for row in plain.slice(index * 40).to_pylist()]
    assert {(f["status"], f["reason"]): f["rows"] for f in plain_summary["funnel"]} == Counter(
        (row["status"], row["reason"] or "") for row in written)
    flags = [row["flag"] for row in written if row["flag"] is not None]
    assert plain_summary["columns"]["flag"] | {"median": None} == {
        "type": "numeric", "count": len(flags), "nulls": len(written) - len(flags), "min": False, "median": None,
        "max": True, "median_exact": True}


def test_numpy_view_reads_sliced_arrays_without_a_copy() -> None:
    values = pa.array(list(range(100)), pa.int32()).slice(10, 5)
    view = inspect_columns.numpy_view(values)
    assert view.tolist() == [10, 11, 12, 13, 14] and view.dtype == "int32"
    assert inspect_columns.numpy_view(pa.array([0.5, 1.5], pa.float32())).tolist() == [0.5, 1.5]
    assert inspect_columns.numpy_view(pa.array([True, False, True]).slice(1)).tolist() == [0, 1]
    assert inspect_columns.numpy_view(pa.array([3], pa.uint64())).dtype == "uint64"
    with pytest.raises(ValueError, match="without nulls"):
        inspect_columns.numpy_view(pa.array([1, None]))


def test_kcli_inspect_json_loads_only_what_the_summary_needs(tmp_path: Path) -> None:
    """The start-up of ``kcli inspect --json``: no pandas (pyarrow imports it for any conversion of Python
    values or to numpy), no rich (tables only), no other command's modules."""
    write_rows(tmp_path / "m", sample_rows(50), shards=2)
    probe = ("import sys, runpy; sys.argv = ['kcli', 'inspect', sys.argv[1], '--json']\n"
             "try:\n    runpy.run_module('kcli', run_name='__main__')\n"
             "except SystemExit as e:\n    assert not e.code, e.code\n"
             "loaded = [m for m in ('pandas', 'rich', 'kcli.collect', 'kcli.curate', 'kdata.runner', 'torch')\n"
             "          if m in sys.modules]\n"
             "print('LOADED', loaded, file=sys.stderr)\n")
    from tests.helpers.cli import python

    done = python("-c", probe, str(tmp_path / "m"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 50
    assert "LOADED []" in done.stderr
