"""What the refiner and the x2 latent upscaler add to one image, stage by stage, on the tiny presets.

Run: ``PYTHONPATH=. .venv/bin/python bench/t2i_stages.py [--images 6] [--steps 4] [--threads 1]``.

Four settings render the same prompts and seeds through ``kcli generate``'s code path (batch 1):
``base`` (tiny-sd alone), ``+upscaler`` (tiny-latent-upscaler on the base latents), ``+refiner``
(tiny-sdxl-refiner img2img at strength 0.3) and ``+both``. The settings alternate image by image, so load
drift on a shared machine hits all four alike; the load average is printed with every result. Tiny models
measure the stages' fixed costs (scheduling, VAE round trips, PNG size), not real-model compute.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import torch

SETTINGS = {"base": {}, "+upscaler": {"upscaler": "tiny-latent-upscaler"}, "+refiner": {"refiner": "tiny-sdxl-refiner"},
            "+both": {"upscaler": "tiny-latent-upscaler", "refiner": "tiny-sdxl-refiner"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from ktrain.lora.generate import GenerateConfig, render_batch
    from ktrain.lora.loading import load_pipeline
    from ktrain.t2i.stages import PostStages, StagesConfig

    pipe, _ = load_pipeline("tiny-sd", None, "cpu", torch.float32)
    finishers = {name: PostStages(StagesConfig(upscaler_steps=args.steps, **spec), args.steps)
                 for name, spec in SETTINGS.items()}
    for finish in finishers.values():
        finish.load("cpu", torch.float32)
    config = GenerateConfig(prompts=["a hanok courtyard"], base="", out=tempfile.mkdtemp(), steps=args.steps,
                            batch_size=1)
    seconds: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for index in range(args.images + 1):  # the first round warms every pipeline up and is not kept
        for name, finish in finishers.items():
            _, timings = render_batch(pipe, config, [("a hanok courtyard", index)], "cpu", finish)
            if index:
                seconds[name].append(timings)
    print(f"threads {args.threads}, {args.images} images per setting, {args.steps} steps, "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    base_total = statistics.median(sum(t.values()) for t in seconds["base"])
    for name, runs in seconds.items():
        stages = {stage: statistics.median(t.get(stage, 0.0) for t in runs) * 1000 for stage in runs[0]}
        total = statistics.median(sum(t.values()) for t in runs)
        shown = "  ".join(f"{stage} {ms:.1f} ms" for stage, ms in stages.items())
        print(f"{name:10s} total {total * 1000:7.1f} ms  x{total / base_total:4.2f} of base  |  {shown}  "
              f"| load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
