"""How long ``kcli train encoder`` takes on tiny-sd: the demo's settings vs the command's defaults, the torch
thread count, gradient checkpointing through the UNet, and the teacher cache in memory vs on disk.

Run: ``PYTHONPATH=. python bench/encoder_speed.py [--steps 40] [--rows demo,defaults,...]``. Every row trains
on the bundled K-contents corpus as the demo's corpus step builds it (``kcli corpus build``: 290 train, 11
held-out pairs) from scratch into bench/out/encoder-speed/ (tokenizer trained, teacher cached, the UNet's
empty-prompt scale measured, one validation + checkpoint at the last step) through ``train_encoder``, the
function ``kcli train encoder`` calls. Printed per row: set-up (``build_run``: corpus, tokenizer, models, teacher
cache, empty-prompt scale), the median seconds per training step (steps 2 to N-1), the validation + checkpoint +
export at the last step, the whole call, and ``os.getloadavg()`` before and after (the machine is shared:
compare rows measured at similar load). A 2-step run of the demo's settings goes first, untimed, so that no
row pays for imports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from kdata.progress import ProgressEvent
from ktrain.encoder import loop
from ktrain.encoder.config import EncoderTrainConfig
from ktrain.encoder.demo_step import DEMO_SETTINGS

OUT = Path(__file__).resolve().parent / "out" / "encoder-speed"
# name: (settings over the command's defaults, torch threads)
ROWS: dict[str, tuple[dict[str, Any], int]] = {
    "demo": (DEMO_SETTINGS, 1),
    "demo+disk-cache": ({**DEMO_SETTINGS, "teacher_cache": "disk"}, 1),
    "demo-no-checkpointing": ({**DEMO_SETTINGS, "gradient_checkpointing": False}, 1),
    "demo-no-unet-term": ({**DEMO_SETTINGS, "unet_weight": 0.0}, 1),
    "defaults": ({}, 1),
    "defaults-no-checkpointing": ({"gradient_checkpointing": False}, 1),
    "defaults-2-threads": ({}, 2),
}


def measure(name: str, settings: dict[str, Any], threads: int, steps: int, pairs: Path) -> dict[str, Any]:
    torch.set_num_threads(threads)
    out = OUT / name
    config = EncoderTrainConfig(pairs=str(pairs), teacher="tiny-sd", out=str(out),
                                **{**settings, "max_steps": steps, "checkpoint_every": steps})
    marks: list[float] = []
    checkpoints: list[float] = []
    build, checkpoint = loop.build_run, loop._checkpoint

    def timed_build(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        run = build(*args, **kwargs)
        marks.append(time.perf_counter() - started)
        return run

    def timed_checkpoint(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        validation = checkpoint(*args, **kwargs)
        checkpoints.append(time.perf_counter() - started)
        return validation

    def on_progress(event: ProgressEvent) -> None:
        if event.phase == "train":
            marks.append(time.perf_counter())

    load_before = os.getloadavg()
    loop.build_run, loop._checkpoint = timed_build, timed_checkpoint
    try:
        started = time.perf_counter()
        result = loop.train_encoder(config, overwrite=True, progress=on_progress)
        whole = time.perf_counter() - started
    finally:
        loop.build_run, loop._checkpoint = build, checkpoint
    setup, ticks = marks[0], marks[1:]
    intervals = [b - a for a, b in zip(ticks, ticks[1:])]  # steps 2..N, the last one with its checkpoint
    per_step = statistics.median(intervals[:-1]) if len(intervals) > 1 else float("nan")
    return {"name": name, "batch": config.batch_size, "latents": config.unet_latent_size or 32, "threads": threads,
            "steps": steps, "setup": setup, "per_step": per_step,
            "checkpoint": sum(checkpoints), "whole": whole,
            "warmup": result.schedule["warmup_steps"], "cache": result.teacher_cache["mode"],
            "load": f"{load_before[0]:.1f} → {os.getloadavg()[0]:.1f}"}


def demo_step(pairs: Path) -> str:
    """The demo's whole encoder step as ``kcli demo`` runs it: train (its own settings, 2 checkpoints), evaluate
    the export on the held-out pairs, draw one image."""
    import shutil

    from kdata.demo_context import DemoContext
    from ktrain.encoder.demo_step import step_encoder

    work = OUT / "demo-step"
    shutil.rmtree(work, ignore_errors=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    step_encoder(DemoContext(work, parallel_manifest=pairs))
    return (f"kcli demo's encoder step (train, evaluate, draw): {time.perf_counter() - started:.1f} s, "
            f"load average {load_before[0]:.1f} → {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names (default: all)")
    parser.add_argument("--demo-step", action="store_true", help="also time the demo's whole encoder step")
    args = parser.parse_args()
    from kdata.corpus.build import run_corpus_build
    from kdata.corpus.sample import SAMPLE_CORPUS

    pairs = OUT / "bundled-corpus"
    if not pairs.exists():
        run_corpus_build([SAMPLE_CORPUS], pairs)
    measure("warm-up", DEMO_SETTINGS, 1, 2, pairs)  # imports and first-call costs, left out of every row
    print("| settings | batch | UNet latents | threads | steps | warm-up | teacher cache | set-up s | s/step | "
          "validation + checkpoint s | whole run s | load average (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.rows.split(","):
        settings, threads = ROWS[name]
        r = measure(name, settings, threads, args.steps, pairs)
        print(f"| {r['name']} | {r['batch']} | {r['latents']} x {r['latents']} | {r['threads']} | {r['steps']} | "
              f"{r['warmup']} | {r['cache']} | {r['setup']:.1f} | {r['per_step']:.2f} | {r['checkpoint']:.1f} | "
              f"{r['whole']:.1f} | {r['load']} |", flush=True)
    if args.demo_step:
        print(demo_step(pairs))


if __name__ == "__main__":
    main()
