"""Pooled-only distillation (the baseline of earlier Korean CLIP work) vs kcli's full objective, side by side.

Run: ``.venv/bin/python bench/encoder_objectives.py [--steps 200] [--seeds 0 1 2]``. Same teacher (tiny-sd),
same data (the 50 bundled seed pairs: 40 train, 10 held out), same steps, batch, learning rate and seeds;
only the objective weights differ. A third row, pooled + sequence alignment without the UNet term, shows
what each part contributes. Each final model is scored by ``kcli eval encoder``'s code on the held-out
pairs, with denoising agreement measured on the UNet's own 32 x 32 latents (training used 8 x 8 for
speed) over 2 fixed latents and 5 timesteps, and on the 40 training pairs (in-sample, 8 x 8 latents, to
tell fitting from generalising). The untrained reference is the teacher reading the Korean text through
its byte fallback. Runs go to bench/out/encoder-objectives/.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ktrain.encoder.config import EncoderTrainConfig
from ktrain.encoder.data import write_seed_manifest
from ktrain.encoder.evaluate import evaluate_encoder
from ktrain.encoder.loop import train_encoder

OUT = Path(__file__).resolve().parent / "out" / "encoder-objectives"
OBJECTIVES = {
    "pooled-only (baseline)": {"sequence_weight": 0.0, "unet_weight": 0.0},
    "pooled + sequence": {"unet_weight": 0.0},
    "full (kcli default)": {},
}
TINY = {"teacher": "tiny-sd", "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 10, "vocab_size": 2000,
        "min_frequency": 1, "unet_latent_size": 8, "eval_latents": 1, "log_every": 10}
METRICS = ("r_at_1", "r_at_5", "mean_cosine", "denoise_mse", "denoise_relative")


def run(name: str, changes: dict[str, Any], pairs: Path, steps: int, seed: int,
        reference: bool = False) -> tuple[dict, dict, float]:
    out = OUT / f"{name.split()[0]}-seed{seed}"
    config = EncoderTrainConfig(pairs=str(pairs), out=str(out), max_steps=steps, checkpoint_every=steps, seed=seed,
                                **TINY, **changes)
    started = time.perf_counter()
    result = train_encoder(config, overwrite=True)
    seconds = time.perf_counter() - started
    final = result.exports["final"]
    held_out = evaluate_encoder(final, pairs, "tiny-sd", num_latents=2, seed=123, reference=reference)
    in_sample = evaluate_encoder(final, pairs, "tiny-sd", split="train", num_latents=2, seed=123, latent_size=8)
    return held_out, in_sample, seconds


def mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest for tiny models)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pairs = OUT / "seed-pairs"
    if not (pairs / "manifest.json").exists():
        write_seed_manifest(pairs)
    held_out: dict[str, list[dict]] = {}
    in_sample: dict[str, list[dict]] = {}
    for name, changes in OBJECTIVES.items():
        for seed in args.seeds:
            val, train, seconds = run(name, changes, pairs, args.steps, seed, reference=not held_out)
            held_out.setdefault(name, []).append(val)
            in_sample.setdefault(name, []).append(train)
            print(f"{name:24s} seed {seed}: {args.steps} steps in {seconds:5.1f}s  held-out " +
                  "  ".join(f"{k} {val[k]:.4g}" for k in METRICS), flush=True)
    reference = held_out[next(iter(OBJECTIVES))][0]["reference"]
    print(f"\nmeans over seeds {args.seeds}, {args.steps} steps, 10 held-out pairs (chance R@1 0.1), "
          f"denoising on 32x32 latents x 2 latents x 5 timesteps; in-sample: 40 train pairs, 8x8 latents:")
    print(f"{'objective':24s} {'R@1':>6s} {'R@5':>6s} {'cos':>6s} {'denoise_mse':>12s} {'relative':>9s}"
          f" | in-sample: {'R@1':>5s} {'relative':>9s}")
    for name in OBJECTIVES:
        rows, train = held_out[name], in_sample[name]
        print(f"{name:24s} {mean(rows, 'r_at_1'):6.3f} {mean(rows, 'r_at_5'):6.3f} {mean(rows, 'mean_cosine'):6.3f}"
              f" {mean(rows, 'denoise_mse'):12.4e} {mean(rows, 'denoise_relative'):9.3f}"
              f" | {mean(train, 'r_at_1'):15.3f} {mean(train, 'denoise_relative'):9.3f}")
    print(f"{'untrained reference':24s} {reference['r_at_1']:6.3f} {reference['r_at_5']:6.3f} "
          f"{reference['mean_cosine']:6.3f} {reference['denoise_mse']:12.4e} {reference['denoise_relative']:9.3f}")
    base, full = held_out["pooled-only (baseline)"], held_out["full (kcli default)"]
    ratio = mean(base, "denoise_mse") / mean(full, "denoise_mse")
    wins = sum(b["denoise_mse"] > f["denoise_mse"] for b, f in zip(base, full))
    print(f"\nheld-out denoising MSE, pooled-only / full: {ratio:.2f}x (full lower on {wins} of {len(full)} seeds)")


if __name__ == "__main__":
    main()
