from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from kdata.inspect import inspect_manifest
from kdata.manifest import Lineage, write_manifest
from kdata.schema import IMAGE, conform_table


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
