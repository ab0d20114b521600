"""Dangerous --out and --overwrite: an output is never its input, --overwrite deletes only what kcli marked as its
own, one run per --out at a time, and worker processes die with a killed run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from kdata.errors import ConfigError, KcliError
from kdata.manifest import Manifest, open_manifest
from kdata.outputs import MARKER, output_lock
from kdata.runner import RunOptions, manifest_sources, run_stage
from kdata.samples import write_sample_manifest
from tests.helpers.cli import kcli, python_popen
from tests.helpers.kill import done_shards
from tests.runner.slow_stage import SlowConfig, SlowStage, make_input


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: what must be unchanged after a refused command."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


def user_folder(path: Path) -> Path:
    """A folder of the user's that merely looks like a kcli output: a ``_work`` folder beside their own files."""
    (path / "_work").mkdir(parents=True)
    (path / "_work" / "run.json").write_text("{}")
    (path / "notes.txt").write_text("keep me")
    (path / "photo.jpg").write_bytes(b"\xff\xd8 my photo")
    return path


def image_folder(root: Path) -> Path:
    for index, color in enumerate(("red", "green", "blue")):
        (root / "sub").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 48), color).save(root / "sub" / f"img-{index}.jpg")
    return root


@pytest.fixture
def samples(tmp_path: Path) -> Manifest:
    return write_sample_manifest(tmp_path / "samples")


# --out is the input, inside it, or around it: refused before anything is read or deleted, naming both paths.

@pytest.mark.parametrize("command", ["verify", "filter", "ingest folder"])
@pytest.mark.parametrize("relation", ["is", "is inside", "contains"])
def test_out_may_not_be_the_input_inside_it_or_contain_it(command: str, relation: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    source = image_folder(project / "in") if command == "ingest folder" else \
        write_sample_manifest(project / "in").path
    out = {"is": source, "is inside": source / "out", "contains": project}[relation]
    before = snapshot(project)
    done = kcli(*command.split(), str(source), "--out", str(out), "--overwrite")
    message = one_line_error(done)
    assert f"--out {out.resolve()} {relation} the input {source.resolve()}" in message
    assert snapshot(project) == before


def test_publish_and_report_refuse_the_manifest_as_their_output(samples: Manifest, tmp_path: Path) -> None:
    from kdata.publish.config import PublishConfig
    from kdata.publish.export import export_dataset
    from kdata.report.build import write_report

    before = snapshot(samples.path)
    where = samples.path.resolve()
    with pytest.raises(ConfigError, match=re.escape(f"--to {where} is the input {where}")):
        export_dataset(samples.path, samples.path, PublishConfig(), overwrite=True)
    with pytest.raises(ConfigError, match=re.escape(f"--out {where.parent} contains the input {where}")):
        write_report(samples.path, samples.path.parent)
    assert snapshot(samples.path) == before


# --overwrite deletes only a folder kcli marked as its own output.

def test_overwrite_refuses_a_user_folder_with_a_work_folder(samples: Manifest, tmp_path: Path) -> None:
    mine = user_folder(tmp_path / "mine")
    before = snapshot(mine)
    for command in (["verify", str(samples.path)], ["filter", str(samples.path)]):
        message = one_line_error(kcli(*command, "--out", str(mine), "--overwrite"))
        assert f"{mine} exists and is not a kcli output" in message
    assert snapshot(mine) == before and sorted(p.name for p in mine.iterdir()) == ["_work", "notes.txt", "photo.jpg"]


def test_every_overwrite_refuses_a_folder_that_only_looks_like_kcli_output(samples: Manifest, tmp_path: Path) -> None:
    from kdata.crawl.config import CrawlConfig
    from kdata.crawl.run import crawl
    from kdata.publish.config import PublishConfig
    from kdata.publish.export import export_dataset
    from kdata.report.build import write_report
    from ktrain.checkpoints import prepare_run_folder

    looks = {  # what each command used to take as proof that a folder was its own
        "crawl": ("_crawl/config.json", "{}"), "export": ("kcli_export.json", "{}"),
        "report": ("report.json", "{}"), "train": ("checkpoint-1/trainer_state.json", "{}"),
    }
    folders = {}
    for name, (fake, text) in looks.items():
        folders[name] = user_folder(tmp_path / name)
        (folders[name] / fake).parent.mkdir(parents=True, exist_ok=True)
        (folders[name] / fake).write_text(text)
    (folders["report"] / "thumbs").mkdir()
    (folders["report"] / "thumbs" / "holiday.jpg").write_bytes(b"\xff\xd8 mine")  # not a thumbnail it would keep
    before = {name: snapshot(folder) for name, folder in folders.items()}
    accelerator = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: None)

    with pytest.raises(ConfigError, match="is not a kcli crawl output"):
        crawl(CrawlConfig(seeds=["http://127.0.0.1:9/"], js_auto=False), folders["crawl"], RunOptions(overwrite=True))
    with pytest.raises(KcliError, match="refusing to --overwrite .*: it is not a kcli export"):
        export_dataset(samples.path, folders["export"], PublishConfig(), overwrite=True)
    with pytest.raises(KcliError, match="holds other files"):
        write_report(samples.path, folders["report"])
    with pytest.raises(ConfigError, match="refusing to --overwrite .*: it is not a kcli output directory"):
        prepare_run_folder(folders["train"], "lora", True, accelerator, [samples.path])
    assert {name: snapshot(folder) for name, folder in folders.items()} == before


def test_overwrite_of_a_kcli_output_still_replaces_it(samples: Manifest, tmp_path: Path) -> None:
    out = tmp_path / "verified"
    first = kcli("verify", str(samples.path), "--out", str(out), "--json")
    assert first.returncode == 0, first.stderr
    assert (out / MARKER).is_file()
    (out / "stale.txt").write_text("from the earlier run")
    again = kcli("verify", str(samples.path), "--out", str(out), "--overwrite", "--json")
    assert again.returncode == 0, again.stderr
    assert not (out / "stale.txt").exists() and open_manifest(out).num_rows == samples.num_rows


def test_trainer_overwrite_empties_its_own_folder(tmp_path: Path) -> None:
    from ktrain.checkpoints import prepare_run_folder

    accelerator = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: None)
    out = tmp_path / "lora"
    prepare_run_folder(out, "lora", False, accelerator, [])
    (out / "checkpoint-2").mkdir()
    prepare_run_folder(out, "lora", True, accelerator, [])
    assert sorted(p.name for p in out.iterdir()) == [MARKER]
    with pytest.raises(ConfigError, match=re.escape(f"--out {out.resolve()} is inside the input {tmp_path.resolve()}")):
        prepare_run_folder(out, "lora", True, accelerator, [tmp_path])


# One run per --out at a time.

def test_a_second_run_into_the_same_out_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in", shards=4, rows=8)
    out = tmp_path / "out"
    first = python_popen("-m", "tests.runner.slow_stage", str(parent.path), str(out), "0.4",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (out / "_work" / "run.json").exists():
            assert first.poll() is None and time.time() < deadline, "the first run did not start"
            time.sleep(0.02)
        with pytest.raises(ConfigError, match=re.escape(f"another kcli run (PID {first.pid}) is writing into {out}")):
            run_stage(SlowStage, SlowConfig(0.4), manifest_sources(parent), out, parent=parent,
                      options=RunOptions(batch_size=4))
        assert done_shards(out) < 4, "the second run was refused only after the first had finished"
    finally:
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert '"shards_run": 4' in stdout


def test_the_cli_names_the_run_that_holds_the_out(samples: Manifest, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_lock(out):
        message = one_line_error(kcli("verify", str(samples.path), "--out", str(out)))
    assert f"another kcli run (PID {os.getpid()}) is writing into {out.resolve()}" in message
    done = kcli("verify", str(samples.path), "--out", str(out))  # released: the same command now runs
    assert done.returncode == 0, done.stderr


# Worker processes die with a killed run; the killed run resumes to the same result.

def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_kill_9_of_a_two_worker_run_leaves_no_process_behind_and_resumes(tmp_path: Path) -> None:
    parent = make_input(tmp_path / "in", shards=6, rows=8)
    killed = tmp_path / "killed"
    run = python_popen("-m", "tests.runner.slow_stage", str(parent.path), str(killed), "0.3", "local", "", "2",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while done_shards(killed) < 1 or len(children_of(run.pid)) < 2:
        assert run.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    children = children_of(run.pid)  # two workers and multiprocessing's resource tracker
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.time() + 20
    while any(alive(pid) for pid in children) and time.time() < deadline:
        time.sleep(0.1)
    left = [pid for pid in children if alive(pid)]
    for pid in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the killed run still running: {left}"

    resumed = python_popen("-m", "tests.runner.slow_stage", str(parent.path), str(killed), "0.3", "local", "", "2")
    assert resumed.wait(timeout=120) == 0
    clean = python_popen("-m", "tests.runner.slow_stage", str(parent.path), str(tmp_path / "clean"), "0.0")
    assert clean.wait(timeout=120) == 0
    assert open_manifest(killed).read_table().equals(open_manifest(tmp_path / "clean").read_table())
