"""Time per LoRA training step with the latent/text caches and without, and where the time goes.

    python bench/lora_step.py [--batch-size 8] [--steps 10] [--warmup 2] [--threads N]

One run, the same tiny-sd model and the bundled sample images at 64 px (one bucket), two trainers built
side by side: one reads latents and text states from the cache, the other decodes, resizes and encodes
every batch. Their steps alternate (cached, uncached, cached, ...) so that load from other processes on
the machine hits both alike. The breakdown comes from the trainer's own section timer: image decode,
VAE encode, text encode, cache reads, UNet forward + backward, optimizer step. The target: a cached step
costs at most 1.1x its UNet forward+backward plus optimizer time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SECTIONS = ("image_decode", "vae_encode", "text_encode", "load_cached", "unet_fwd_bwd", "optimizer")


def build(workdir: Path, manifest: Path, cached: bool, batch_size: int) -> tuple:
    from ktrain.lora.config import LoraTrainConfig
    from ktrain.lora.setup import load_data, setup
    from ktrain.lora.timing import StepTimer

    config = LoraTrainConfig(
        manifest=str(manifest), out=str(workdir / ("cached" if cached else "live")), base="tiny-sd",
        caption_col="title", resolution=64, bucket_step=16, bucket=False, batch_size=batch_size, rank=4,
        max_steps=1000, cache_latents=cached, cache_text=cached, cache_dir=str(workdir / "cache"),
        validation_prompts=[], validation_images=0,
    )
    timer = StepTimer()
    trainer = setup(config, load_data(config), timer=timer, fill_in_background=False)  # steps alone are timed
    for module in trainer.modules:
        module.train()
    return trainer, timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from kdata.samples import write_sample_manifest
    from ktrain.lora.loop import train_step

    workdir = Path(tempfile.mkdtemp(prefix="lora-bench-"))
    os.environ.setdefault("KCLI_HOME", str(workdir / "home"))
    manifest = write_sample_manifest(workdir / "samples").path
    runs = {"cached": build(workdir, manifest, True, args.batch_size),
            "uncached": build(workdir, manifest, False, args.batch_size)}
    walls: dict[str, list[float]] = {name: [] for name in runs}
    for step in range(args.warmup + args.steps):
        for name, (trainer, timer) in runs.items():
            if step == args.warmup:
                timer.reset()
            started = time.perf_counter()
            train_step(trainer, step)
            if step >= args.warmup:
                walls[name].append(time.perf_counter() - started)
    device = runs["cached"][0].accelerator.device
    print(f"tiny-sd LoRA step, batch {args.batch_size}, 64 px, {args.steps} steps after {args.warmup} warm-up, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    print(f"{'':10}{'step':>9}" + "".join(f"{s:>14}" for s in SECTIONS) + "   (ms per step; step = median)")
    for name, (_, timer) in runs.items():
        row = [1000 * timer.totals.get(s, 0.0) / args.steps for s in SECTIONS]
        print(f"{name:10}{1000 * statistics.median(walls[name]):9.1f}" + "".join(f"{v:14.1f}" for v in row))
    cached_timer = runs["cached"][1]
    core = 1000 * (cached_timer.totals["unet_fwd_bwd"] + cached_timer.totals["optimizer"]) / args.steps
    cached = 1000 * statistics.mean(walls["cached"])
    uncached = 1000 * statistics.mean(walls["uncached"])
    print(f"cached step (mean) / (UNet fwd+bwd + optimizer): {cached:.1f} / {core:.1f} ms = {cached / core:.3f}x "
          f"(target <= 1.1x)")
    print(f"uncached step / cached step (mean): {uncached:.1f} / {cached:.1f} ms = {uncached / cached:.2f}x")


if __name__ == "__main__":
    main()
