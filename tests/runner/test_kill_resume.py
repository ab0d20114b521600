"""SIGKILL a running stage part way, re-run it, and compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kdata.manifest import open_manifest
from tests.runner.test_runner import make_input

REPO = Path(__file__).resolve().parents[2]


def _launch(source: Path, out: Path, seconds: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.runner.slow_stage", str(source), str(out), str(seconds)]
    return subprocess.Popen(command, cwd=REPO, env=env)


def _rows(path: Path) -> list[dict]:
    table = open_manifest(path).read_table()
    return sorted(table.to_pylist(), key=lambda r: r["key"])


def test_sigkill_part_way_then_rerun_equals_uninterrupted_run(tmp_path: Path) -> None:
    source = make_input(tmp_path / "in", shards=10, rows=8).path
    killed = tmp_path / "killed"
    process = _launch(source, killed, seconds=0.15)  # 2 batches per shard: ~0.3 s a shard
    deadline = time.time() + 60
    while len(list((killed / "_work").glob("*.done.json"))) < 3:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list((killed / "_work").glob("*.done.json")))
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
