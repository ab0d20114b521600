"""NudeNet safety scoring: one model call per image (NudeNet's ``detect``, as kcli did) vs the batched scorer.

    python bench/nudenet_batch.py [--images 200] [--batch 16] [--rounds 3] [--device auto]

Both sides score the same images: 512 px JPEGs (smooth random colour fields) with the bundled sample photos
mixed in, so some images have detections. Rounds alternate per-image and batched so that a change in the
machine's load hits both alike; each line prints the load average. "Per image" is NudeNet's own
``NudeDetector().detect`` on each image (its default session); "batched" is :class:`NudeNetScorer` with
``--batch`` images per ``session.run`` and the post-processing vectorised, on the CUDA provider where
onnxruntime has one and the machine a GPU. A last line splits a batched image's time into preprocessing,
model run and post-processing, and prints the bound the model run alone sets.
The model load is left out of both. The scores of the two sides are checked equal (to 1e-4).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from kdata.filter.safety import NUDENET_UNSAFE, NudeNetScorer

SAMPLES = Path(__file__).resolve().parents[1] / "kdata" / "bundled" / "samples" / "images"


def bench_images(count: int, side: int = 512) -> list[bytes]:
    rng = np.random.default_rng(0)
    photos = [p.read_bytes() for p in sorted(SAMPLES.glob("*.jpg"))]
    images = []
    for index in range(count):
        if photos and index % 4 == 0:  # one in four a real photo
            images.append(photos[(index // 4) % len(photos)])
            continue
        noise = rng.integers(0, 255, size=(side // 16, side // 16, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).resize((side, side), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def per_image_scores(detector: object, images: list[bytes]) -> np.ndarray:
    scores = []
    for data in images:
        found = detector.detect(data)  # type: ignore[attr-defined]
        scores.append(max((d["score"] for d in found if d["class"] in NUDENET_UNSAFE), default=0.0))
    return np.asarray(scores, dtype=np.float32)


def timed(label: str, run: object, count: int) -> tuple[float, np.ndarray]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    scores = run()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"{label:<10} {count / seconds:7.1f} img/s  {seconds * 1000 / count:6.1f} ms/img  load {load:.2f}",
          flush=True)
    return count / seconds, scores


def stage_breakdown(session: object, images: list[bytes], batch: int) -> None:
    """Where a batched image's time goes: NudeNet's preprocessing, the model run, and the post-processing
    both ways (NudeNet's per-box loop and kcli's vectorised one) on the same outputs. The model run alone
    bounds what any change outside the model can gain on this hardware."""
    from nudenet import nudenet as module

    from kdata.filter.nudenet_boxes import detections

    labels = getattr(module, "__labels")
    started = time.perf_counter()
    prepared = [module._read_image(data, 320) for data in images]
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    name = session.get_inputs()[0].name  # type: ignore[attr-defined]
    outputs = [session.run(None, {name: np.vstack([p[0] for p in prepared[i:i + batch]])})[0]  # type: ignore[attr-defined]
               for i in range(0, len(prepared), batch)]
    run_s = time.perf_counter() - started
    flat = [o for out in outputs for o in out]
    started = time.perf_counter()
    for o, p in zip(flat, prepared):
        module._postprocess([o[None]], p[3], p[4], p[1], p[2], p[5], p[6], 320, 320)
    loop_s = time.perf_counter() - started
    started = time.perf_counter()
    for o, p in zip(flat, prepared):
        detections(o, p[3], p[4], p[5], p[6], 320, labels)
    vector_s = time.perf_counter() - started
    per = 1000 / len(images)
    print(f"per image: preprocess {read_s * per:.1f} ms, model run {run_s * per:.1f} ms (batch {batch}), "
          f"post-process {loop_s * per:.1f} ms NudeNet's loop / {vector_s * per:.2f} ms vectorised; "
          f"bound with free pre/post-processing: {(read_s + run_s + loop_s) / run_s:.2f}x; "
          f"load {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import nudenet

    images = bench_images(args.images)
    detector = nudenet.NudeDetector()
    scorer = NudeNetScorer(device=args.device, batch_size=args.batch)
    print(f"{len(images)} images, batch {args.batch}, batched providers {scorer.providers}, "
          f"per-image providers {detector.onnx_session.get_providers()}, cpus {os.cpu_count()}")
    per_image, batched = [], []
    for round_index in range(args.rounds):
        print(f"round {round_index + 1}")
        sides = [("per-image", lambda: per_image_scores(detector, images), per_image),
                 ("batched", lambda: scorer.score(None, images), batched)]
        scores = {}
        for label, run, rates in sides if round_index % 2 == 0 else sides[::-1]:  # alternate which side goes first
            rate, scores[label] = timed(label, run, len(images))
            rates.append(rate)
        single_scores, batch_scores = scores["per-image"], scores["batched"]
        np.testing.assert_allclose(batch_scores, single_scores, atol=1e-4)
    ratio = statistics.median(b / p for b, p in zip(batched, per_image))
    print(f"batched / per-image throughput: {ratio:.2f}x (median of {args.rounds} rounds); "
          f"load now {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    stage_breakdown(scorer.session, images, args.batch)


if __name__ == "__main__":
    main()
