"""Curation that is right by default: crops and borders are near duplicates, the best copy is kept and says why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from kdata.filter.config import parse_filter_config
from kdata.filter.decide import choose_representative, duplicate_pairs
from kdata.filter.near_dup import components
from kdata.filter.quality import measure_image
from kdata.filter.run import run_filter
from kdata.imageio import decode_rgb
from kdata.manifest import open_manifest
from tests.filter.images import COPIES, encode, photo, row
from tests.helpers.manifests import write_rows

GROUPED = ("resize_half", "jpeg_q55", "jpeg_q92", "crop_2pct", "crop_5pct", "crop_10pct", "border")


def _measured(keys_and_bytes: list[tuple[str, bytes]]) -> pa.Table:
    return pa.Table.from_pylist([{"key": key, **measure_image(decode_rgb(data), metrics=False)}
                                 for key, data in keys_and_bytes])


def test_crops_of_2_to_10_percent_and_borders_join_their_original() -> None:
    items = []
    for base in range(4):
        picture = photo(base, (480, 360))
        items.append((f"{base}/original", encode(picture, "JPEG", quality=90)))
        items += [(f"{base}/{name}", COPIES[name](picture)) for name in GROUPED]
    table = _measured(items)
    labels = components(table.num_rows, duplicate_pairs(table, parse_filter_config({})))
    groups: dict[int, set[str]] = {}
    for key, label in zip(table.column("key").to_pylist(), labels.tolist()):
        groups.setdefault(label, set()).add(key)
    expected = [{f"{base}/original", *(f"{base}/{name}" for name in GROUPED)} for base in range(4)]
    assert sorted(groups.values(), key=sorted) == expected


def test_a_recoloured_copy_stays_distinct_while_the_whole_hash_matches() -> None:
    picture = photo(7, (480, 360))
    table = _measured([("original", encode(picture, "JPEG", quality=90)), ("recolour", COPIES["recolour"](picture))])
    assert duplicate_pairs(table, parse_filter_config({})).tolist() == []
    no_guard = parse_filter_config({"dedup": {"color_max_distance": -1}})
    assert duplicate_pairs(table, no_guard).tolist() == [[0, 1]]


def test_quality_92_is_kept_over_quality_55_with_its_reason(tmp_path: Path) -> None:
    rows = []
    for base in range(3):
        picture = photo(base, (320, 240))
        # The lower quality copy has the smaller key, so the old tie-break (smallest key) would keep it.
        rows += [row(f"{base}-a-q55", COPIES["jpeg_q55"](picture)), row(f"{base}-b-q92", COPIES["jpeg_q92"](picture)),
                 row(f"{base}-c-half", COPIES["resize_half"](picture))]
    source = write_rows(tmp_path / "in", rows, shards=2)
    run_filter(source.path, parse_filter_config({}), tmp_path / "out", report=False)
    columns = ["key", "status", "reason", "duplicate_of", "dup_keep_reason"]
    table = open_manifest(tmp_path / "out").read_table(columns)
    got = {r["key"]: (r["status"], r["duplicate_of"], r["dup_keep_reason"]) for r in table.to_pylist()}
    for base in range(3):
        assert got[f"{base}-b-q92"] == ("ok", None, "higher_quality")
        assert got[f"{base}-a-q55"] == ("rejected", f"{base}-b-q92", None)
        assert got[f"{base}-c-half"] == ("rejected", f"{base}-b-q92", None)
    reasons = {r["key"]: r["reason"] for r in table.to_pylist()}
    assert reasons["0-a-q55"] == "duplicate_of=0-b-q92"


@pytest.mark.parametrize(("values", "formats", "expected"), [
    ({"area": [100, 400, 300], "bpp": [3.0, 1.0, 1.0]}, ["jpeg"] * 3, (1, "largest")),
    ({"area": [100, 400, 400], "bpp": [3.0, 1.0, 1.0]}, ["jpeg"] * 3, (1, "first")),
    ({"area": [400, 400, 400], "bpp": [1.0, 2.0, 1.5]}, ["jpeg"] * 3, (1, "higher_quality")),
    ({"area": [400, 400], "bpp": [1.0, 2.0], "sharp": [90.0, 50.0]}, ["png", "jpeg"], (0, "sharper")),
    ({"area": [400, 400], "bpp": [1.0, 1.0], "sharp": [50.0, 51.0], "prefer": [0.2, 0.7]}, ["jpeg"] * 2,
     (1, "prefer")),
    ({"area": [400, 400], "bpp": [1.0, 1.01], "sharp": [50.0, 50.0]}, ["jpeg"] * 2, (0, "first")),
    ({"area": [400, 400, 400], "bpp": [2.0, 2.0, 1.0]}, ["jpeg"] * 3, (0, "first")),
])
def test_representative_reasons(values: dict, formats: list[str], expected: tuple[int, str]) -> None:
    n = len(values["area"])
    criteria = [("largest", values["area"], 0.0), ("higher_quality", values["bpp"], 0.05),
                ("sharper", values.get("sharp", [None] * n), 0.05), ("prefer", values.get("prefer", [None] * n), 0.0)]
    assert choose_representative(list(range(n)), criteria, [f"k{i}" for i in range(n)], formats) == expected


def test_only_the_scores_rules_use_are_computed(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in", [row("a", encode(photo(1, (200, 150)))),
                                          row("b", encode(photo(2, (200, 150))), alt_text="x")])
    text_only = {"dedup": {"exact_pixels": False, "phash_max_distance": -1},
                 "rules": [{"filter": "text_length", "min_chars": 2}]}
    run_filter(source.path, parse_filter_config(text_only), tmp_path / "out", report=False)
    out = open_manifest(tmp_path / "out")
    names = set(out.schema().names)
    assert not names & {"blur_variance", "entropy_bits", "phash_crops", "pixel_sha256"}
    assert {"width", "height", "file_size"} <= names
    assert {r["key"]: r["reason"] for r in out.read_table(["key", "reason"]).to_pylist()} == {
        "a": None, "b": "text_too_short"}


def test_faiss_index_gives_the_exact_pairs_on_a_small_set() -> None:
    from kdata.filter.near_dup import cell_count, cosine_pairs

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(600, 32)).astype(np.float32)
    for source in range(0, 600, 25):  # planted near copies, some in chains
        vectors[source + 1] = vectors[source] + rng.normal(scale=0.05, size=32)
        vectors[source + 2] = vectors[source + 1] + rng.normal(scale=0.05, size=32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = cosine_pairs(vectors, 0.98)
    assert len(exact) >= 48
    every_cell = cosine_pairs(vectors, 0.98, block=128, index_min_rows=100, nprobe=cell_count(600))
    assert every_cell.tolist() == exact.tolist()
    default_probe = cosine_pairs(vectors, 0.98, block=128, index_min_rows=100)
    assert default_probe.tolist() == exact.tolist()
