"""CLIP embedding stage end to end vs the model's forward pass alone, same model and batch, one run.

    python bench/clip_embed_throughput.py [--images 192] [--batch 32] [--model ViT-B-32]

The model is open_clip ``ViT-B-32`` built with ``pretrained=None`` (random weights: offline, and the
same arithmetic as the released checkpoint), large enough that the forward pass dominates, as it does
for the ViT-L/14 a real filter uses. "Forward" times ``encode_images`` on already preprocessed tensors.
"End to end" runs the filter's score stage through the runner over an inline-bytes manifest of 512 px
JPEGs: read shard, decode, measure, preprocess, forward, cache write, shard write; the one-time model
load in ``setup`` is reported apart. The embedding cache starts empty; text scoring is off.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from kdata.filter.clip import load_clip
from kdata.filter.config import parse_filter_config
from kdata.filter.stage import ScoreStage
from kdata.manifest import Lineage, write_manifest
from kdata.runner import RunOptions, manifest_sources, run_stage
from kdata.schema import IMAGE, Status, conform_table

SETUP_SECONDS: list[float] = []


class TimedScoreStage(ScoreStage):
    def setup(self) -> None:
        started = time.perf_counter()
        super().setup()
        SETUP_SECONDS.append(time.perf_counter() - started)


def synthetic_jpegs(count: int, side: int = 512) -> list[bytes]:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(count):
        noise = rng.integers(0, 255, size=(side // 8, side // 8, 3), dtype=np.uint8)
        image = Image.fromarray(noise).resize((side, side), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def forward_only(model: str, images: list[bytes], batch: int) -> float:
    import torch

    clip = load_clip("open_clip", model)
    pixels = [clip.preprocess(Image.open(io.BytesIO(d)).convert("RGB")) for d in images]
    clip.encode_images(torch.stack(pixels[:batch]))  # warm-up
    started = time.perf_counter()
    for start in range(0, len(pixels), batch):
        clip.encode_images(torch.stack(pixels[start : start + batch]))
    return len(pixels) / (time.perf_counter() - started)


def end_to_end(model: str, images: list[bytes], batch: int, root: Path) -> tuple[float, float, float]:
    rows = [{"key": f"img-{i:05d}", "image_bytes": d, "sha256": hashlib.sha256(d).hexdigest(), "status": Status.OK}
            for i, d in enumerate(images)]
    source = write_manifest(root / "in", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                            Lineage(stage="bench", config={}))
    config = parse_filter_config({"clip": {"backend": "open_clip", "model": model, "batch_size": batch,
                                           "text_columns": [], "cache_dir": str(root / "cache")}})
    started = time.perf_counter()
    result = run_stage(TimedScoreStage, config, manifest_sources(source), root / "out", parent=source,
                       options=RunOptions(batch_size=len(images)))
    wall = time.perf_counter() - started
    assert result.stats["clip/encoded"] == len(images), result.stats
    setup = SETUP_SECONDS[-1]
    return len(images) / (wall - setup), len(images) / wall, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip name; no ':pretrained' = random weights")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    images = synthetic_jpegs(args.images)
    forward = forward_only(args.model, images, args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        e2e, e2e_with_load, setup = end_to_end(args.model, images, args.batch, Path(tmp))
    print(f"model: open_clip {args.model} (pretrained=None), batch {args.batch}, {args.images} images of 512 px")
    print(f"forward only:            {forward:7.2f} images/s")
    print(f"stage end to end:        {e2e:7.2f} images/s  (model load in setup, {setup:.1f} s, excluded)")
    print(f"stage incl. model load:  {e2e_with_load:7.2f} images/s")
    print(f"ratio end-to-end / forward = {e2e / forward:.3f} (target >= 0.85)")


if __name__ == "__main__":
    main()
