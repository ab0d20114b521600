"""The teacher-output cache on disk: memory-mapped shards keyed by the pairs and the teacher, filled once,
resumable after a kill (a shard without its done marker is redone), and training on it equals training on the
in-memory cache."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kdata.progress import ProgressEvent
from ktrain.encoder.config import EncoderTrainConfig
from ktrain.encoder.data import load_parallel
from ktrain.encoder.loop import train_encoder
from ktrain.encoder.student import load_teacher_tokenizer, load_text_encoder
from ktrain.encoder.teacher_cache import (
    DiskTeacherCache,
    MemoryTeacherCache,
    TeacherEncoder,
    cache_mode,
    fill,
    open_disk_cache,
)
from tests.ktrain.encoder.settings import TINY

REPO = Path(__file__).resolve().parents[3]


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def encoder() -> TeacherEncoder:
    return TeacherEncoder(load_text_encoder("tiny-sd").eval(), load_teacher_tokenizer("tiny-sd"), -1, "cpu")


def _open(root: Path, encoder: TeacherEncoder, pairs: Path, shard_rows: int = 8) -> DiskTeacherCache:
    train = load_parallel(pairs).train
    return open_disk_cache(root, encoder, train.keys, train.en, shard_rows, {"teacher": "tiny-sd"})


def _all(cache: DiskTeacherCache) -> tuple[np.ndarray, np.ndarray]:
    states, pooled = cache.get(list(range(sum(s.count for s in cache.shards))))
    return states.numpy(), pooled.numpy()


def test_a_killed_fill_resumes_to_the_same_values(tmp_path: Path, seed_pairs: Path, encoder: TeacherEncoder) -> None:
    texts = load_parallel(seed_pairs).train.en  # 40 pairs: 5 shards of 8
    whole = _open(tmp_path / "whole", encoder, seed_pairs)
    assert fill(whole, encoder, texts) == 0 and len(whole.shards) == 5

    def kill_after_two(event: ProgressEvent) -> None:
        if not event.skipped and event.done == 16:
            raise Interrupt

    split = _open(tmp_path / "split", encoder, seed_pairs)
    with pytest.raises(Interrupt):
        fill(split, encoder, texts, kill_after_two)
    states, pooled, marker = split.paths(split.shards[1])
    # Killed between renaming shard 1's arrays into place and writing its marker, mid-write of its states:
    marker.unlink()
    states.write_bytes(states.read_bytes()[:1000])
    stale = split.shard_folder / f".x.states.npy.{socket.gethostname()}-99999999.tmp"  # a dead process's
    stale.write_bytes(b"partial")
    events: list[ProgressEvent] = []
    again = _open(tmp_path / "split", encoder, seed_pairs)
    assert fill(again, encoder, texts, events.append) == 1  # shard 0 reused, 1-4 computed
    assert [e.done for e in events] == [8, 16, 24, 32, 40] and [e.skipped for e in events] == [True] + [False] * 4
    assert not stale.exists() and not list(again.shard_folder.glob(".*.tmp"))
    for ours, theirs in zip(_all(again), _all(whole)):
        assert np.array_equal(ours, theirs)  # bit for bit
    memory = MemoryTeacherCache.build(encoder, texts)
    rows = [7, 8, 39, 0, 21]
    for ours, theirs in zip(again.get(rows), memory.get(rows)):
        assert torch.allclose(ours, theirs, atol=1e-6)
    assert again.describe() == {"mode": "disk", "rows": 40, "size_mb": 0.4, "path": str(again.folder), "shards": 5,
                                "shards_reused": 1}


def test_shards_are_keyed_by_pairs_and_teacher(tmp_path: Path, seed_pairs: Path, encoder: TeacherEncoder) -> None:
    cache = _open(tmp_path, encoder, seed_pairs)
    assert json.loads((cache.folder / "teacher.json").read_text())["fingerprint"].startswith(cache.folder.name)
    other_layer = TeacherEncoder(encoder.teacher, encoder.tokenizer, -2, "cpu")
    assert _open(tmp_path, other_layer, seed_pairs).folder != cache.folder
    train = load_parallel(seed_pairs).train
    edited = open_disk_cache(tmp_path, encoder, train.keys, ["changed", *train.en[1:]], 8, {})
    assert [s.name == t.name for s, t in zip(edited.shards, cache.shards)] == [False, True, True, True, True]


def test_auto_keeps_small_caches_in_memory_and_large_ones_on_disk() -> None:
    config = EncoderTrainConfig()
    assert cache_mode(config, 1000, 768) == "memory"  # 229 MiB
    assert cache_mode(config, 1_600_000, 768) == "disk"  # the seed's 1.6M pairs: 357 GiB
    assert cache_mode(EncoderTrainConfig(teacher_cache="memory"), 1_600_000, 768) == "memory"
    assert cache_mode(EncoderTrainConfig(cache_teacher=False, teacher_cache="disk"), 10, 768) == "none"


def _config(out: Path, pairs: Path, **changes: Any) -> EncoderTrainConfig:
    settings = {**TINY, "batch_size": 4, "max_steps": 3, "checkpoint_every": 3, "eval_timesteps": [500], **changes}
    return EncoderTrainConfig(pairs=str(pairs), out=str(out), **settings)


def _losses(out: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_training_killed_while_caching_reruns_to_the_same_losses(tmp_path: Path, seed_pairs: Path) -> None:
    memory = train_encoder(_config(tmp_path / "memory", seed_pairs))
    assert memory.teacher_cache["mode"] == "memory" and not (tmp_path / "memory" / "teacher-cache").exists()

    def kill_while_caching(event: ProgressEvent) -> None:
        if event.phase == "cache teacher" and event.done == 24:
            raise Interrupt

    disk = _config(tmp_path / "disk", seed_pairs, teacher_cache="disk", teacher_cache_shard_rows=8)
    with pytest.raises(Interrupt):
        train_encoder(disk, progress=kill_while_caching)
    result = train_encoder(disk)  # the same command again: no checkpoint yet, so no --resume needed
    assert result.teacher_cache["mode"] == "disk" and result.teacher_cache["shards_reused"] == 3
    assert Path(result.teacher_cache["path"]).parent == tmp_path / "disk" / "teacher-cache"
    assert _losses(tmp_path / "disk") == pytest.approx(_losses(tmp_path / "memory"), abs=1e-6)


FILL_SCRIPT = """
import sys, time
from tests.ktrain.encoder.test_teacher_cache import TeacherEncoder, _open, fill, load_parallel
from ktrain.encoder.student import load_teacher_tokenizer, load_text_encoder
import torch
torch.set_num_threads(1)
encoder = TeacherEncoder(load_text_encoder("tiny-sd").eval(), load_teacher_tokenizer("tiny-sd"), -1, "cpu")
slow = lambda event: time.sleep(30) if event.done >= 16 else None  # killed in here, 2 shards on disk
fill(_open(sys.argv[1], encoder, sys.argv[2]), encoder, load_parallel(sys.argv[2]).train.en, slow)
"""


@pytest.mark.slow  # a second Python that loads torch and the teacher: about 20 s on a busy 2-core machine
def test_a_fill_killed_by_sigkill_resumes(tmp_path: Path, seed_pairs: Path, encoder: TeacherEncoder) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen([sys.executable, "-c", FILL_SCRIPT, str(tmp_path / "killed"), str(seed_pairs)],
                             cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "killed").glob("*/shards/*.json"))) < 2:
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    texts = load_parallel(seed_pairs).train.en
    resumed = _open(tmp_path / "killed", encoder, seed_pairs)
    assert fill(resumed, encoder, texts) == 2
    whole = _open(tmp_path / "whole", encoder, seed_pairs)
    fill(whole, encoder, texts)
    for ours, theirs in zip(_all(resumed), _all(whole)):
        assert np.array_equal(ours, theirs)


def test_the_fingerprint_does_not_change_when_the_tokenizer_is_used(encoder: TeacherEncoder) -> None:
    fresh = TeacherEncoder(encoder.teacher, load_teacher_tokenizer("tiny-sd"), -1, "cpu")
    before = fresh.fingerprint()
    fresh(["a cat sleeps on a wooden floor"])  # sets padding and truncation on the fast tokenizer's backend
    assert fresh.fingerprint() == before


@pytest.mark.slow  # two processes under accelerate launch, then one: about a minute
def test_two_processes_fill_one_disk_cache_that_a_later_run_reuses(tmp_path: Path, seed_pairs: Path) -> None:
    from kdata.models import ensure_preset
    from tests.ktrain.test_accelerate_launch import launch, one_report

    ensure_preset("tiny-sd")  # built here, not by two processes at once
    settings = ["vocab_size=2000", "min_frequency=1", "unet_latent_size=8", "eval_latents=1", "eval_timesteps=[500]",
                "checkpoint_every=2", "teacher_cache='disk'", "teacher_cache_shard_rows=8",
                f"teacher_cache_dir='{tmp_path / 'cache'}'"]
    args = ["train", "encoder", "--pairs", str(seed_pairs), "--teacher", "tiny-sd", "--max-steps", "2",
            "--batch-size", "4", *(x for s in settings for x in ("--set", s)), "--json"]
    first = one_report(launch(2, *args, "--out", str(tmp_path / "two")).stdout)["teacher_cache"]
    assert (first["mode"], first["shards"], first["shards_reused"]) == ("disk", 5, 0)
    assert len(list((tmp_path / "cache").glob("*/shards/*.json"))) == 5
    second = one_report(launch(1, *args, "--out", str(tmp_path / "one")).stdout)["teacher_cache"]
    assert second["shards_reused"] == 5 and second["path"] == first["path"]
