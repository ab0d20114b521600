"""Ray's overhead on one machine: the same stage over the same images with the local and the Ray executor.

Run: ``.venv/bin/python bench/executor_overhead.py [--images 2000] [--shards 20] [--workers 2] [--stage filter]``.
The input (generated JPEGs, inline in a manifest) is written to bench/out/ and reused. Each trial runs the
whole stage into a fresh output: local = ``--workers`` spawned processes; ray = as many Ray actors on a
local Ray started once beforehand (as a cluster is, for ``--ray-address``), so actor start-up and the
stage's ``setup()`` are inside every Ray trial. Ray's own start-up is timed and printed apart: a command
with ``--executor ray`` and no address pays it once. Trials alternate local/ray and the best of each
counts (the CPU is shared; the best trial is the least disturbed one).

``--stage filter`` (the default) is the whole ``kcli filter`` command with the demo's config
(kdata/bundled/filters/demo.toml: tiny open_clip embeddings and similarity, NudeNet, quality rules, dedup),
both passes, each trial with an empty embedding cache of its own so every trial computes every embedding.
``--stage`` also takes a name from ``STAGES`` or ``module:StageClass:ConfigClass`` (``--config`` is a JSON
object of config fields), so any :class:`kdata.runner.Stage` can be measured the same way.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from kdata.bundled import bundled_path
from kdata.manifest import DESCRIPTOR, Lineage, Manifest, open_manifest, write_manifest
from kdata.runner import RunOptions, manifest_sources, run_stage
from kdata.schema import IMAGE, Status, conform_table

OUT = Path(__file__).resolve().parent / "out" / "executor-overhead"
STAGES = {"verify": "kdata.verify:VerifyStage:VerifyConfig"}
FILTER_CONFIG = bundled_path("filters/demo.toml")
TARGET_OVERHEAD = 0.25  # the target for Ray on one machine


def make_image(rng: np.random.Generator, size: int) -> bytes:
    """A smooth gradient with noise: photo-like JPEG sizes (tens of KB), not incompressible noise."""
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    base = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size))], -1)
    pixels = np.clip(base * rng.uniform(0.5, 1.0, 3) + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def build_input(images: int, shards: int, size: int) -> Manifest:
    out = OUT / f"input-{images}-{shards}-{size}"
    if (out / DESCRIPTOR).exists():
        return open_manifest(out)
    rng = np.random.default_rng(0)
    rows = []
    for index in range(images):
        data = make_image(rng, size)
        rows.append({"key": f"img-{index:06d}", "source": "bench", "image_bytes": data,
                     "sha256": hashlib.sha256(data).hexdigest(), "status": Status.OK})
    table = conform_table(pa.Table.from_pylist(rows), IMAGE)
    per = -(-images // shards)
    tables = [table.slice(i * per, per) for i in range(shards)]
    return write_manifest(out, tables, IMAGE, Lineage(stage="bench", config={"images": images, "size": size}))


def load_stage(spec: str, config_json: str) -> tuple[type, Any]:
    module_name, stage_name, config_name = STAGES.get(spec, spec).split(":")
    module = importlib.import_module(module_name)
    return getattr(module, stage_name), getattr(module, config_name)(**json.loads(config_json))


def stage_runner(spec: str, config_json: str) -> Callable[[Manifest, Path, str, int], Manifest]:
    """A function running the benchmarked stage (or the whole filter command) into a fresh output."""
    if spec == "filter":
        from kdata.filter.config import load_filter_config
        from kdata.filter.run import run_filter

        def filter_run(parent: Manifest, out: Path, executor: str, workers: int) -> Manifest:
            config = load_filter_config(FILTER_CONFIG)
            shutil.rmtree(out.with_name(out.name + "-cache"), ignore_errors=True)
            config.clip.cache_dir = str(out.with_name(out.name + "-cache"))
            return run_filter(parent.path, config, out, report=False,
                              options=RunOptions(executor=executor, workers=workers, overwrite=True)).manifest

        return filter_run
    stage_cls, config = load_stage(spec, config_json)

    def stage_run(parent: Manifest, out: Path, executor: str, workers: int) -> Manifest:
        return run_stage(stage_cls, config, manifest_sources(parent), out, parent=parent,
                         options=RunOptions(executor=executor, workers=workers, overwrite=True)).manifest

    return stage_run


def timed_run(run: Callable[..., Manifest], parent: Manifest, name: str, executor: str, workers: int) -> float:
    started = time.perf_counter()
    manifest = run(parent, OUT / "runs" / name, executor, workers)
    seconds = time.perf_counter() - started
    if manifest.num_rows != parent.num_rows:
        raise SystemExit(f"{name}: {manifest.num_rows} rows out of {parent.num_rows}")
    return seconds


def start_ray(workers: int) -> float:
    import ray

    started = time.perf_counter()
    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, workers), include_dashboard=False,
             logging_level=logging.WARNING, log_to_driver=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--workers", type=int, default=2, help="local processes, and Ray actors")
    parser.add_argument("--stage", default="filter", help=f"filter, one of {sorted(STAGES)}, or module:Stage:Config")
    parser.add_argument("--config", default="{}", help="the stage's config fields as a JSON object")
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()

    parent = build_input(args.images, args.shards, args.size)
    run = stage_runner(args.stage, args.config)
    ray_start = start_ray(args.workers)
    times: dict[str, list[float]] = {"local": [], "ray": []}
    for trial in range(args.trials):
        for executor in times:
            times[executor].append(timed_run(run, parent, executor, executor, args.workers))
            print(f"trial {trial + 1}: {executor:5s} {times[executor][-1]:6.2f} s", flush=True)
    report(args, parent, times, ray_start)


def report(args: argparse.Namespace, parent: Manifest, times: dict[str, list[float]], ray_start: float) -> None:
    n = parent.num_rows
    local, ray = min(times["local"]), min(times["ray"])
    print(f"\nstage {args.stage} on {n:,} images ({args.size} px JPEG) in {args.shards} shards, "
          f"{args.workers} workers, {os.cpu_count()} CPUs; best of {args.trials} trials")
    print(f"{'executor':<30}{'seconds':>9}{'images/s':>10}")
    print(f"{'local (' + str(args.workers) + ' processes)':<30}{local:>9.2f}{n / local:>10.1f}")
    print(f"{'ray (' + str(args.workers) + ' actors, Ray running)':<30}{ray:>9.2f}{n / ray:>10.1f}")
    ratio, overhead = local / ray, ray / local - 1
    verdict = "under" if overhead < TARGET_OVERHEAD else "OVER"
    print(f"ratio ray/local images/s: {ratio:.2f} (Ray overhead {overhead:+.0%}, {verdict} the "
          f"{TARGET_OVERHEAD:.0%} target)")
    print(f"starting a local Ray: {ray_start:.1f} s once per command without --ray-address "
          f"(with it: {n / (ray + ray_start):.1f} images/s, ratio {local / (ray + ray_start):.2f})")


if __name__ == "__main__":
    main()
