"""What ``kcli train encoder``'s step adds over a bare forward/backward/optimizer step, on the same run.

Run: ``PYTHONPATH=. python bench/encoder_loop_overhead.py [--steps 20] [--rounds 3] [--log-every 10]``.
One run is built the way ``train_encoder`` builds it (the demo's settings on the bundled K-contents corpus,
tiny-sd teacher and UNet term). Then, alternating in each round, ``--steps`` steps of the trainer's
``train_step`` (reading the losses every ``--log-every`` steps, as the loop logs them) and ``--steps`` bare
steps (``compute_losses`` → weighted total → backward → ``optimizer.step``, no gather, no host reads). Printed:
median seconds per step of each, their ratio (goal: close to 1.0), and ``os.getloadavg()`` per round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from kdata.corpus.build import run_corpus_build
from kdata.corpus.sample import SAMPLE_CORPUS
from ktrain.encoder import loop
from ktrain.encoder.config import EncoderTrainConfig
from ktrain.encoder.demo_step import DEMO_SETTINGS
from ktrain.encoder.losses import weighted_total
from ktrain.optim import build_optimizer
from ktrain.runtime import make_accelerator

OUT = Path(__file__).resolve().parent / "out" / "encoder-loop"


def build(steps: int) -> tuple[Any, Any, Any, Any]:
    pairs = run_corpus_build([SAMPLE_CORPUS], OUT / "pairs").manifest.path
    config = EncoderTrainConfig(pairs=str(pairs), teacher="tiny-sd", out=str(OUT / "run"),
                                **{**DEMO_SETTINGS, "max_steps": 10 * steps})
    accelerator = make_accelerator(config.mixed_precision, config.gradient_accumulation_steps, config.seed)
    run = loop.build_run(config, accelerator, None)
    optimizer = build_optimizer(run.student, config.learning_rate, config.weight_decay)
    scheduler = loop.build_schedule(optimizer, config)
    run.student, optimizer, scheduler = accelerator.prepare(run.student, optimizer, scheduler)
    return run, accelerator, optimizer, scheduler


def trainer_steps(parts: tuple[Any, ...], start: int, steps: int, log_every: int) -> list[float]:
    run, accelerator, optimizer, scheduler = parts
    times = []
    for step in range(start, start + steps):
        began = time.perf_counter()
        losses = loop.train_step(run, accelerator, optimizer, scheduler, step)
        if (step + 1) % log_every == 0:
            losses.read(accelerator)
        times.append(time.perf_counter() - began)
    return times


def bare_steps(parts: tuple[Any, ...], start: int, steps: int) -> list[float]:
    run, accelerator, optimizer, _ = parts
    config = run.config
    times = []
    for step in range(start, start + steps):
        began = time.perf_counter()
        rows = loop.batch_indices(len(run.corpus.train), config.batch_size, step, config.seed)
        total = weighted_total(loop.compute_losses(run, rows, step, accelerator.device), config.weights)
        total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts = build(args.steps)
    trainer_steps(parts, 0, 2, args.log_every)  # warm-up: first-call allocations
    bare_steps(parts, 2, 2)
    step = 4
    medians: dict[str, list[float]] = {"trainer": [], "bare": []}
    for round_ in range(args.rounds):
        order = ("trainer", "bare") if round_ % 2 == 0 else ("bare", "trainer")
        for side in order:
            if side == "trainer":
                times = trainer_steps(parts, step, args.steps, args.log_every)
            else:
                times = bare_steps(parts, step, args.steps)
            step += args.steps
            medians[side].append(statistics.median(times))
        load = os.getloadavg()
        print(f"round {round_ + 1}: trainer {medians['trainer'][-1]:.4f} s/step, bare {medians['bare'][-1]:.4f} "
              f"s/step, ratio {medians['trainer'][-1] / medians['bare'][-1]:.3f}, load {load[0]:.2f}")
    trainer, bare = statistics.median(medians["trainer"]), statistics.median(medians["bare"])
    print(f"median over rounds: trainer {trainer:.4f} s/step, bare {bare:.4f} s/step, "
          f"trainer/bare {trainer / bare:.3f}x (threads {args.threads})")


if __name__ == "__main__":
    main()
