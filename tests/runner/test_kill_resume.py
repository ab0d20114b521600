"""SIGKILL a running stage part way, re-run it, and compare with an uninterrupted run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kdata.manifest import open_manifest
from tests.helpers.cli import python_popen
from tests.helpers.kill import kill_after_done_shards
from tests.runner.slow_stage import make_input


def _launch(source: Path, out: Path, seconds: float) -> subprocess.Popen:
    return python_popen("-m", "tests.runner.slow_stage", str(source), str(out), str(seconds))


def _rows(path: Path) -> list[dict]:
    table = open_manifest(path).read_table()
    return sorted(table.to_pylist(), key=lambda r: r["key"])


def test_sigkill_part_way_then_rerun_equals_uninterrupted_run(tmp_path: Path) -> None:
    source = make_input(tmp_path / "in", shards=10, rows=8).path
    killed = tmp_path / "killed"
    process = _launch(source, killed, seconds=0.15)  # 2 batches per shard: ~0.3 s a shard
    done_before = kill_after_done_shards(process, killed)
    assert 3 <= done_before < 10 and not (killed / "manifest.json").exists()

    assert _launch(source, killed, seconds=0.15).wait() == 0  # the same command again
    assert _launch(source, tmp_path / "clean", seconds=0.0).wait() == 0

    resumed, clean = _rows(killed), _rows(tmp_path / "clean")
    keys = [r["key"] for r in resumed]
    assert len(keys) == len(set(keys)) == 80
    assert resumed == clean
    assert not list(killed.rglob("*.tmp-*")), "a temporary file from the killed run was left as output"
    # The data of the resumed manifest is the same as the uninterrupted one's, byte for byte in content.
    assert open_manifest(killed).read_table().equals(open_manifest(tmp_path / "clean").read_table())
