"""Training throughput of the tiny trainers on 1 process vs 2 processes (``accelerate launch``, gloo on CPU).

    PYTHONPATH=. python bench/accelerate_processes.py [--steps 20]

Each trainer runs as a user runs it (``kcli train ... --json`` / ``accelerate launch --multi_gpu
--num_processes 2 -m kcli train ... --json``), 1 process then 2, and the bench prints the speed the result
reports (``distributed``: the wall-clock time of the training loop, with its one checkpoint at the end;
start-up, model loading and caching left out) and the whole command's wall-clock time. The batch per
process stays the same, so 2 processes train on twice the samples per step (the effective batch doubles).

On a CPU-only machine this measures correctness and the overhead of the process group (gloo all-reduce,
one torch thread per process), not a GPU speed-up: on 2 cores, 2 processes compete for the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(processes: int, args: list[str]) -> tuple[dict, float]:
    launcher = [sys.executable, "-m", "kcli"] if processes == 1 else [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
        str(_port()), "-m", "kcli"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run([*launcher, *args, "--json"], cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout)["distributed"], time.perf_counter() - started


def encoder_args(work: Path, out: str, steps: int, batch: int) -> list[str]:
    settings = ["vocab_size=2000", "min_frequency=1", "unet_latent_size=8", "eval_latents=1", "eval_timesteps=[500]",
                f"checkpoint_every={steps}", "warmup_steps=0"]
    return ["train", "encoder", "--pairs", str(work / "pairs"), "--teacher", "tiny-sd", "--out", str(work / out),
            "--max-steps", str(steps), "--batch-size", str(batch), *(x for s in settings for x in ("--set", s))]


def lora_args(work: Path, out: str, steps: int, batch: int) -> list[str]:
    settings = ["bucket_step=16", f"checkpointing_steps={steps}", "validation_steps=0", "validation_images=0",
                "validation_prompts=[]", f"cache_dir='{work / 'cache'}'"]
    return ["train", "lora", "--manifest", str(work / "images"), "--base", "tiny-sd", "--caption-col", "title",
            "--out", str(work / out), "--resolution", "64", "--max-steps", str(steps), "--batch-size", str(batch),
            *(x for s in settings for x in ("--set", s))]


def prepare(work: Path) -> None:
    from kdata.models import ensure_preset
    from kdata.samples import write_sample_manifest
    from ktrain.encoder.data import write_seed_manifest

    ensure_preset("tiny-sd")
    write_seed_manifest(work / "pairs")
    write_sample_manifest(work / "images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("KCLI_HOME", str(work / "home"))
        prepare(work)
        print(f"{'trainer':8} {'procs':>5} {'batch/proc':>10} {'eff. batch':>10} {'steps/s':>8} {'samples/s':>9} "
              f"{'vs 1 proc':>9} {'command s':>9}")
        for name, build, batch in (("encoder", encoder_args, 8), ("lora", lora_args, 2)):
            base = None
            for processes in (1, 2):
                speed, wall = run(processes, build(work, f"{name}-{processes}", args.steps, batch))
                base = base or speed["samples_per_second"]
                print(f"{name:8} {processes:>5} {batch:>10} {speed['effective_batch']:>10} "
                      f"{speed['steps_per_second']:>8.2f} {speed['samples_per_second']:>9.1f} "
                      f"{speed['samples_per_second'] / base:>8.2f}x {wall:>9.1f}")

if __name__ == "__main__":
    main()
