"""``run_stage`` with a source planner: called once the output is claimed, before any shard runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.errors import ConfigError
from kdata.runner import ManifestShardSource, run_stage
from tests.runner.slow_stage import SlowConfig, SlowStage, make_input


def test_planner_runs_inside_the_claimed_output_and_its_shards_resume(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in", shards=2)
    seen = []

    def planner(out: Path) -> list[ManifestShardSource]:
        seen.append((out / "_work" / "run.json").exists())
        (out / "_work" / "staged.txt").write_text("staged input lives here")
        return [ManifestShardSource(p) for p in parent.shard_paths]

    first = run_stage(SlowStage, SlowConfig(seconds_per_batch=0), planner, tmp_path / "out")
    again = run_stage(SlowStage, SlowConfig(seconds_per_batch=0), planner, tmp_path / "out")
    assert seen == [True, True] and first.manifest.num_rows == 12
    assert (again.shards_run, again.shards_skipped) == (0, 2)
    with pytest.raises(ConfigError, match="different settings"):  # refused before the planner runs
        run_stage(SlowStage, SlowConfig(seconds_per_batch=1), planner, tmp_path / "out")
    assert len(seen) == 2
