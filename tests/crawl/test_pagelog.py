"""The durable page log: torn lines from a killed process, and the frontier rebuilt from it."""

from __future__ import annotations

from pathlib import Path

from kdata.crawl.pagelog import PageLog, frontier, read_records


def test_a_torn_last_line_is_ignored_and_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "pages.jsonl"
    log = PageLog(path)
    log.append({"url": "a", "depth": 0, "links": ["b"]})
    log.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"url": "b", "dep')  # the process died mid-write
    assert [r["url"] for r in read_records(path)] == ["a"]
    log = PageLog(path)
    log.append({"url": "b", "depth": 1})
    log.close()
    assert [r["url"] for r in read_records(path)] == ["a", "b"]


def test_frontier_keeps_done_pages_out_and_pending_shallowest_first() -> None:
    records = [
        {"url": "s", "depth": 0, "links": ["a", "b", "x"], "images": [{"url": "i1"}]},
        {"url": "a", "depth": 1, "links": ["c", "b", "s"], "images": [{"url": "i1"}, {"url": "i2"}]},
        {"url": "sm", "depth": 0, "child_depth": 0, "links": ["x", "d"]},
    ]
    state = frontier(records, ["s", "sm", "seed2"])
    assert state.done == {"s", "a", "sm"} and state.requested == 3
    assert state.pending == [("seed2", 0, None), ("x", 0, "sm"), ("d", 0, "sm"), ("b", 1, "s"), ("c", 2, "a")]
    assert state.image_urls == {"i1", "i2"}
    assert state.seen == {"s", "a", "sm", "seed2", "x", "d", "b", "c"}
