"""The Ray executor: the same manifest as a local run, resume after SIGKILL, GPU actors, clear errors.

The tests share one local Ray with 2 CPUs and one logical GPU (``ray_address`` in tests/runner/conftest.py);
subprocess drivers (the CLI, a killed run) join it through its address.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from kdata.errors import ConfigError
from kdata.manifest import Lineage, Manifest, open_manifest, write_manifest
from kdata.runner import RunOptions, manifest_sources, run_stage
from kdata.runner.executors import InProcessExecutor, StageSpec, make_executor
from kdata.runner.stage import StageContext
from kdata.samples import sample_rows
from kdata.schema import IMAGE, conform_table
from kdata.verify import VerifyConfig, VerifyStage
from tests.helpers.cli import kcli, python, python_popen
from tests.helpers.kill import kill_after_done_shards
from tests.runner.ray_stages import INSTALL, GpuProbeStage, MissingModelStage, ProbeConfig
from tests.runner.slow_stage import LossyStage, SlowConfig, SlowStage, make_input


def _verify_input(root: Path) -> Manifest:
    """The bundled samples in 3 shards, one truncated and one with a wrong sha256, so decisions vary."""
    rows = sample_rows()
    rows[1]["image_bytes"] = rows[1]["image_bytes"][:200]
    rows[9]["sha256"] = "0" * 64
    table = conform_table(pa.Table.from_pylist(rows), IMAGE)
    shards = [table.slice(i * 8, 8) for i in range(3)]
    return write_manifest(root, shards, IMAGE, Lineage(stage="unit", config={}))


def test_kcli_verify_on_ray_gives_the_same_manifest_as_local(tmp_path: Path, ray_address: str) -> None:
    parent = _verify_input(tmp_path / "in")
    local = run_stage(VerifyStage, VerifyConfig(), manifest_sources(parent), tmp_path / "local", parent=parent)
    on_ray = kcli("verify", str(parent.path), "--out", str(tmp_path / "ray"), "--json", "--executor", "ray",
                  "--ray-address", ray_address, "--workers", "2", timeout=120)
    assert on_ray.returncode == 0, on_ray.stderr
    result = json.loads(on_ray.stdout)
    assert result["stats"] == local.stats == {
        "total": 22, "kept": 20, "failed/undecodable": 1, "failed/sha256_mismatch": 1,
    }
    assert result["shards_run"] == 3
    ray_manifest = open_manifest(tmp_path / "ray")
    assert ray_manifest.read_table().equals(local.manifest.read_table())
    lineage = ray_manifest.lineage_chain[0]
    assert lineage["stage"] == "verify" and lineage["parent_fingerprint"] == parent.fingerprint


def test_slow_stage_on_ray_equals_local_rows_decisions_scores_and_stats(tmp_path: Path, ray_address: str) -> None:
    parent = make_input(tmp_path / "in", shards=6, rows=5, failed=("row-4", "row-17"))

    def run(out: str, **kwargs: object) -> object:
        return run_stage(SlowStage, SlowConfig(0), manifest_sources(parent), tmp_path / out, parent=parent,
                         options=RunOptions(batch_size=2, **kwargs))

    local, on_ray = run("local"), run("ray", executor="ray", workers=2)
    assert on_ray.stats == local.stats == {"total": 30, "kept": 18, "dropped/divisible": 10, "carried/failed": 2}
    table = on_ray.manifest.read_table()
    assert table.equals(local.manifest.read_table())
    assert table.column("key").to_pylist() == [f"row-{i}" for i in range(30)]
    rows = {r["key"]: r for r in table.to_pylist()}
    assert (rows["row-9"]["status"], rows["row-9"]["reason"]) == ("rejected", "divisible")
    assert rows["row-4"]["reason"] == "download:404" and rows["row-4"]["score"] is None
    assert rows["row-7"]["score"] == 3.5
    # A Ray run can be finished by the local executor (and the other way round): the shards are the same.
    (tmp_path / "ray" / "data" / "shard-00002.parquet").unlink()
    again = run("ray")
    assert (again.shards_run, again.shards_skipped) == (1, 5)
    assert again.manifest.fingerprint == on_ray.manifest.fingerprint


def _launch(source: Path, out: Path, seconds: float, ray_address: str) -> subprocess.Popen[str]:
    return python_popen("-m", "tests.runner.slow_stage", str(source), str(out), str(seconds), "ray", ray_address,
                        stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_of_a_ray_run_part_way_then_rerun_resumes(tmp_path: Path, ray_address: str) -> None:
    source = make_input(tmp_path / "in", shards=16, rows=8).path
    killed = tmp_path / "killed"
    process = _launch(source, killed, 0.1, ray_address)  # 2 batches a shard: ~0.2 s a shard per actor
    done_before = kill_after_done_shards(process, killed)
    assert 3 <= done_before < 16 and not (killed / "manifest.json").exists()

    rerun = _launch(source, killed, 0.1, ray_address)  # the same command again
    stdout, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0
    counts = json.loads(stdout)  # stdout holds the result only: Ray's own messages go to stderr
    assert counts["shards_skipped"] >= done_before and counts["shards_run"] >= 1
    assert counts["shards_run"] + counts["shards_skipped"] == 16

    parent = open_manifest(source)
    clean = run_stage(SlowStage, SlowConfig(0), manifest_sources(parent), tmp_path / "clean", parent=parent,
                      options=RunOptions(batch_size=4))
    resumed = open_manifest(killed).read_table()
    assert resumed.num_rows == 128 and len(set(resumed.column("key").to_pylist())) == 128
    assert resumed.equals(clean.manifest.read_table())
    assert not list((killed / "data").glob("*.tmp-*")), "a temporary file from the killed run was left as output"


def test_gpu_stage_actors_get_a_gpu_unless_pinned_to_cpu(tmp_path: Path, ray_address: str) -> None:
    parent = make_input(tmp_path / "in", shards=3, rows=2)
    # One logical GPU and two GPU actors: one gets it, the other waits, and the run finishes without it.
    for device, workers, expected in (("auto", 2, "0"), ("cpu", 1, "")):
        result = run_stage(GpuProbeStage, ProbeConfig(device), manifest_sources(parent), tmp_path / device,
                           parent=parent, options=RunOptions(executor="ray", workers=workers))
        assert set(result.manifest.read_table().column("gpu_ids").to_pylist()) == {expected}
        assert result.stats == {"total": 6, "kept": 6}


def test_a_user_error_in_an_actor_comes_back_as_itself(tmp_path: Path, ray_address: str) -> None:
    parent = make_input(tmp_path / "in", shards=2)
    with pytest.raises(ConfigError) as raised:
        run_stage(MissingModelStage, None, manifest_sources(parent), tmp_path / "out", parent=parent,
                  options=RunOptions(executor="ray"))
    assert type(raised.value) is ConfigError
    assert str(raised.value) == "unknown model 'no-such-model'; valid names: tiny-clip"


def test_a_stage_bug_in_an_actor_fails_the_run_and_writes_no_manifest(tmp_path: Path, ray_address: str) -> None:
    parent = make_input(tmp_path / "in", shards=2)
    with pytest.raises(RuntimeError, match="never added, dropped or duplicated"):
        run_stage(LossyStage, SlowConfig(0), manifest_sources(parent), tmp_path / "out", parent=parent,
                  options=RunOptions(executor="ray", workers=2))
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_without_ray_the_ray_executor_fails_with_the_install_command(tmp_path: Path) -> None:
    source = make_input(tmp_path / "in", shards=1).path
    out = tmp_path / "out"
    probe = (
        "import sys, runpy; sys.modules['ray'] = None; sys.argv = ['kcli', *sys.argv[1:]]\n"
        "runpy.run_module('kcli', run_name='__main__')\n"
    )
    done = python("-c", probe, "verify", str(source), "--out", str(out), "--executor", "ray", timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: --executor ray needs Ray, which is not installed: {INSTALL}"]
    assert not out.exists(), "nothing may be written before the executor is known to work"


@pytest.mark.parametrize(
    ("name", "address", "message"),
    [
        ("local", "ray://head:10001", "--ray-address is only used with --executor ray"),
        ("spark", None, "unknown executor 'spark'; valid executors: local, ray"),
    ],
)
def test_bad_executor_choices_are_one_line_errors(name: str, address: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_executor(name, 1, address=address)
    assert str(raised.value) == message
    assert isinstance(make_executor("local", 1), InProcessExecutor)


@pytest.mark.parametrize(
    ("uses_gpu", "device", "cluster_gpus", "num_gpus", "expected"),
    [
        (True, "auto", 1, None, 1.0),   # a GPU stage on a GPU cluster: one GPU per actor
        (True, "auto", 0, None, 0.0),   # ... on a CPU-only cluster: none, or the actors would never start
        (True, "cpu", 4, None, 0.0),    # pinned to the CPU by its config
        (False, "cuda:0", 4, None, 1.0),  # a config that asks for CUDA
        (False, "auto", 4, None, 0.0),  # a CPU stage
        (True, "auto", 4, 0.5, 0.5),    # an explicit share wins (two actors per GPU)
    ],
)
def test_actor_resources(uses_gpu: bool, device: str, cluster_gpus: float, num_gpus: float | None,
                         expected: float) -> None:
    from kdata.runner.ray_executor import actor_options

    stage_cls = GpuProbeStage if uses_gpu else SlowStage
    spec = StageSpec(stage_cls, ProbeConfig(device), StageContext(Path("/out")), Lineage(stage="x", config={}), 8)
    options = actor_options(spec, num_cpus=2.0, num_gpus=num_gpus, cluster_gpus=cluster_gpus)
    assert (options["num_cpus"], options["num_gpus"]) == (2.0, expected)
