from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kdata.errors import ConfigError
from kdata.manifest import Manifest, open_manifest
from kdata.progress import ProgressEvent
from kdata.runner import RunOptions, manifest_sources, run_stage
from tests.helpers.cli import python
from tests.runner.slow_stage import ForkableSlowStage, LossyStage, SlowConfig, SlowStage, make_input


def run(parent: Manifest, out: Path, **kwargs) -> object:  # noqa: ANN003
    return run_stage(SlowStage, SlowConfig(seconds_per_batch=0), manifest_sources(parent), out, parent=parent,
                     options=RunOptions(**kwargs))


def test_every_row_comes_out_kept_or_rejected_with_reason_and_stats(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in", failed=("row-4",))
    result = run(parent, tmp_path / "out", batch_size=4)
    table = result.manifest.read_table()
    assert table.column("key").to_pylist() == [f"row-{i}" for i in range(24)]  # order kept, none lost
    rows = {r["key"]: r for r in table.to_pylist()}
    assert rows["row-3"]["status"] == "rejected" and rows["row-3"]["reason"] == "divisible"
    assert rows["row-4"]["status"] == "failed" and rows["row-4"]["reason"] == "download:404"
    assert rows["row-4"]["score"] is None  # carried through untouched, never processed
    assert rows["row-5"]["score"] == 2.5
    assert result.stats == {"total": 24, "kept": 15, "dropped/divisible": 8, "carried/failed": 1}
    assert json.loads((tmp_path / "out" / "stats.json").read_text()) == result.stats
    assert result.manifest.lineage_chain[0]["parent_fingerprint"] == parent.fingerprint


def test_rerun_skips_done_shards_and_gives_the_same_manifest(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in")
    first = run(parent, tmp_path / "out")
    second = run(parent, tmp_path / "out")
    assert (second.shards_run, second.shards_skipped) == (0, 4)
    assert second.manifest.fingerprint == first.manifest.fingerprint


def test_missing_shard_output_is_redone(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in")
    first = run(parent, tmp_path / "out")
    time.sleep(1.1)  # the redone shard is written in a later second than the first run's
    (tmp_path / "out" / "data" / "shard-00002.parquet").unlink()
    again = run(parent, tmp_path / "out")
    assert (again.shards_run, again.shards_skipped) == (1, 3)
    assert again.manifest.fingerprint == first.manifest.fingerprint


def test_resuming_with_different_settings_is_refused_and_overwrite_starts_again(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in")
    run(parent, tmp_path / "out")
    with pytest.raises(ConfigError, match="config.reject_every changed"):
        run_stage(SlowStage, SlowConfig(0, reject_every=2), manifest_sources(parent), tmp_path / "out", parent=parent)
    result = run_stage(SlowStage, SlowConfig(0, reject_every=2), manifest_sources(parent), tmp_path / "out",
                       parent=parent, options=RunOptions(overwrite=True))
    assert result.stats["dropped/divisible"] == 12


def test_refuses_to_write_into_a_directory_that_is_not_a_kcli_output(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in")
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match="not a kcli output"):
            run(parent, precious, overwrite=overwrite)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_worker_processes_give_the_same_result_as_in_process(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in")
    local = run(parent, tmp_path / "one")
    pooled = run(parent, tmp_path / "two", workers=2)
    assert pooled.manifest.read_table().equals(local.manifest.read_table())
    assert pooled.stats == local.stats


def test_a_fork_safe_stage_forks_its_workers_unless_another_thread_is_alive(tmp_path: Path) -> None:
    # In a process of its own: threads other tests leave behind in this one would rule the fork out.
    done = python("-m", "tests.runner.slow_stage", "fork-check", str(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen["first"] == ["set in the parent"]  # forked: the progress thread came after the workers
    assert seen["while_a_thread_lives"] == ["a fresh import"]  # spawned


def test_worker_processes_of_a_fork_safe_stage_give_the_same_result_as_in_process(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in")

    def table(out: str, workers: int) -> object:
        return run_stage(ForkableSlowStage, SlowConfig(seconds_per_batch=0), manifest_sources(parent), tmp_path / out,
                         parent=parent, options=RunOptions(workers=workers)).manifest.read_table().drop_columns("seen")

    assert table("two", 2).equals(table("one", 1))


def test_a_rerun_removes_the_temporary_files_a_killed_run_left(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in")
    first = run(parent, tmp_path / "out")
    leftovers = [tmp_path / "out" / "data" / ".shard-00001.parquet.tmp-123-abc",
                 tmp_path / "out" / "_work" / ".shard-00001.parquet.done.json.tmp-123-abc"]
    for leftover in leftovers:
        leftover.write_bytes(b"half")
    again = run(parent, tmp_path / "out")
    assert not any(leftover.exists() for leftover in leftovers)
    assert again.manifest.fingerprint == first.manifest.fingerprint


def test_progress_reports_every_shard(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in", shards=3)
    events: list[ProgressEvent] = []
    run(parent, tmp_path / "out", progress=events.append)
    assert [e.done for e in events] == [0, 1, 2, 3]
    assert {e.phase for e in events} == {SlowStage.name} and {e.unit for e in events} == {"shards"}
    assert events[-1].rows == 18 and events[-1].total == 3


def test_stage_that_loses_a_row_is_a_bug_not_a_silent_drop(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in", shards=1)
    with pytest.raises(RuntimeError, match="never added, dropped or duplicated"):
        run_stage(LossyStage, SlowConfig(0), manifest_sources(parent), tmp_path / "out", parent=parent)
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert open_manifest(tmp_path / "in").num_rows == 6


def test_a_worker_freezes_the_collector_before_its_interpreter_exits(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A spawned worker's exit would otherwise walk every object it holds (seconds with torch loaded)."""
    import atexit
    import gc
    import multiprocessing

    from kdata.manifest import Lineage
    from kdata.runner import executors
    from kdata.runner.stage import StageContext

    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(executors, "die_with_parent", lambda pid: None)
    spec = executors.StageSpec(SlowStage, SlowConfig(), StageContext(tmp_path, []), Lineage(stage="slow", config={}),
                               batch_size=8)
    executors._init_worker(spec, multiprocessing.get_context("spawn").Value("i", 0), 1)
    assert gc.freeze in registered
