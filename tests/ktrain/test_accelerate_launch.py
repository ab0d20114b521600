"""Both trainers under ``accelerate launch`` with two CPU processes (gloo), as a user runs them on GPUs.

Each test trains a few steps on tiny-sd with two processes, checks that the outputs load the way the
ecosystem loads them, that the loss is finite and falls, that exactly one process wrote the files and printed
the report, and then resumes a checkpoint of that run on one process (the other way round for the LoRA) to a
later step: the global step and the samples seen continue, whatever the process count.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ktrain.checkpoints import read_state
from tests.helpers.cli import python
from tests.helpers.manifests import write_rows
from tests.helpers.net import unused_port
from tests.ktrain.lora.helpers import food_rows

pytestmark = pytest.mark.slow  # two training runs of about a minute each
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # one torch thread per process: two processes already fill two cores


def launch(processes: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``accelerate launch --multi_gpu --num_processes N -m kcli ...`` (plain ``python -m kcli`` for one process)."""
    launcher = [] if processes == 1 else [
        "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(unused_port())]
    done = python(*launcher, "-m", "kcli", *args, env=ONE_THREAD, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def one_report(stdout: str) -> dict[str, Any]:
    """The single JSON report in stdout (a second process printing its own would make this fail)."""
    report, end = json.JSONDecoder().raw_decode(stdout.strip())
    assert stdout.strip()[end:].strip() == "", "more than one report printed"
    return report


def _layout(report: dict[str, Any]) -> dict[str, Any]:
    speed = ("train_seconds", "steps_per_second", "samples_per_second")
    return {k: v for k, v in report["distributed"].items() if k not in speed}


def metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module", autouse=True)
def tiny_sd() -> Path:
    from kdata.models import ensure_preset

    return ensure_preset("tiny-sd")  # built once here, not by two processes at the same time


def test_encoder_trains_on_two_processes_and_resumes_on_one(tmp_path: Path) -> None:
    from ktrain.encoder.data import write_seed_manifest

    pairs, out = write_seed_manifest(tmp_path / "pairs").path, tmp_path / "run"
    settings = ["vocab_size=2000", "min_frequency=1", "unet_latent_size=8", "eval_latents=1", "eval_timesteps=[500]",
                "log_every=1", "checkpoint_every=3", "lr_scheduler='constant'", "warmup_steps=0"]
    args = ["train", "encoder", "--pairs", str(pairs), "--teacher", "tiny-sd", "--out", str(out), "--max-steps", "6",
            "--batch-size", "4", "--lr", "5e-4", *(x for s in settings for x in ("--set", s)), "--json"]
    report = one_report(launch(2, *args).stdout)
    assert _layout(report) == {"num_processes": 2, "per_process_batch": 4, "gradient_accumulation_steps": 1,
                               "effective_batch": 8, "samples_seen": 48}
    assert report["distributed"]["samples_per_second"] > 0
    losses = [r["loss"] for r in metrics(out) if "loss" in r]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)  # one metrics file, one line per step
    assert sum(losses[-2:]) < sum(losses[:2])
    # The main process alone writes: one marker (kcli's own output), one set of checkpoints and exports.
    assert sorted(p.name for p in out.iterdir()) == [".kcli-output.json", "best", "checkpoint-3", "checkpoint-6",
                                                     "final", "metrics.jsonl", "tokenizer"]
    from transformers import CLIPTextModel, CLIPTokenizer

    model = CLIPTextModel.from_pretrained(out / "final", subfolder="text_encoder")
    tokens = CLIPTokenizer.from_pretrained(out / "final", subfolder="tokenizer")("한복", return_tensors="pt")
    assert math.isfinite(model(**tokens).pooler_output.abs().sum().item())

    # checkpoint-3 of the two-process run, continued by one process: steps 4-6 see batches 6, 7, 8 of the stream.
    resumed = one_report(launch(1, *args[:-1], "--resume", str(out / "checkpoint-3"), "--json").stdout)
    assert resumed["resumed_from"] == 3 and resumed["steps"] == 6
    state = read_state(out / "checkpoint-6").extra
    assert (state["num_processes"], state["effective_batch"]) == (1, 4)
    assert (state["micro_batches_seen"], state["samples_seen"]) == (6 + 3, 24 + 3 * 4)
    lines = [(r["step"], r["num_processes"], r["samples_seen"]) for r in metrics(out) if "loss" in r]
    assert lines == [(1, 2, 8), (2, 2, 16), (3, 2, 24), (4, 1, 28), (5, 1, 32), (6, 1, 36)]


def test_lora_trains_on_two_processes_after_resuming_a_one_process_run(tmp_path: Path) -> None:
    manifest, out = write_rows(tmp_path / "manifest", food_rows()).path, tmp_path / "lora"
    settings = ["bucket_step=16", "checkpointing_steps=2", "validation_steps=0", "validation_images=4",
                "validation_prompts=['한복을 입은 여인']", "validation_inference_steps=2", "learning_rate=1e-2",
                f"cache_dir='{tmp_path / 'cache'}'"]
    args = ["train", "lora", "--manifest", str(manifest), "--base", "tiny-sd", "--caption-col", "title", "--out",
            str(out), "--resolution", "64", "--max-steps", "6", "--batch-size", "2", "--rank", "8",
            *(x for s in settings for x in ("--set", s)), "--json"]
    assert one_report(launch(1, *args).stdout)["distributed"]["num_processes"] == 1
    # checkpoint-2 of the one-process run, continued by two processes: steps 3-6 see batches 2-9 of the stream.
    done = launch(2, *args[:-1], "--resume", str(out / "checkpoint-2"), "--json")
    report = one_report(done.stdout)
    assert report["resumed_from"] == 2 and report["steps"] == 6
    assert _layout(report) == {"num_processes": 2, "per_process_batch": 2, "gradient_accumulation_steps": 1,
                               "effective_batch": 4, "samples_seen": 2 * 2 + 4 * 4}
    rows = metrics(out)
    train = [(r["step"], r["num_processes"]) for r in rows if "loss" in r]
    assert train == [(1, 1), (2, 1), (3, 2), (4, 2), (5, 2), (6, 2)]
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
    assert report["metrics"]["val_loss"] < report["metrics"]["val_loss_first"]  # fixed-noise loss: it falls
    assert [p.name for p in (out / "samples").iterdir()] == ["step-000006.png"]
    assert read_state(out / "checkpoint-6").extra["micro_batches_seen"] == 2 + 4 * 2
    from diffusers import StableDiffusionPipeline

    from kdata.models import ensure_preset

    pipe = StableDiffusionPipeline.from_pretrained(ensure_preset("tiny-sd"), safety_checker=None)
    pipe.load_lora_weights(str(out))
    trained = [p for name, p in pipe.unet.named_parameters() if "lora_B" in name]
    assert trained and any(p.abs().max() > 0 for p in trained)  # lora_B starts at zero: these weights learned

