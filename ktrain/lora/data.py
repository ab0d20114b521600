"""Training examples from an image manifest: captions, aspect-ratio buckets, the resize/crop policy.

Only the columns training needs are read (``key``, ``sha256``, the caption column, the image bytes or
blob path), and only rows whose status is ``ok``. Everything that can be wrong with the manifest (not an
image manifest, no such caption column, no usable row) is found here, before any model is loaded.

Resize/crop policy. Buckets are sizes of about ``resolution²`` pixels whose sides are multiples of
``bucket_step`` and whose aspect ratio is at most ``bucket_max_ratio`` (NovelAI's aspect-ratio bucketing,
as kohya-ss implements it). An image (after its EXIF orientation is applied) goes to the bucket nearest
its aspect ratio, measured in log space so that 2:1 and 1:2 are equally far from square. It is resized
with Lanczos so that it covers the bucket — one side fits exactly, the other overhangs, small images are
upscaled — and then centre-cropped to the bucket. The crop is deterministic on purpose: the latent cache
stores one encoding per (image, bucket), and a random crop would make every cached latent stale
(kohya-ss refuses random crops with cached latents for the same reason). Each example records the
original size and the crop's top-left corner, which is what SDXL's size/crop conditioning needs: the
original size is the manifest's ``original_width``/``original_height`` (what ingest saw before it resized
or re-encoded the image) where the manifest has them, else the stored image's own size.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from kdata.blobs import read_image_bytes
from kdata.errors import ManifestError, ManifestSchemaError
from kdata.manifest import Manifest, open_manifest

# Bump when the preprocessing below changes: the latent cache fingerprint includes it.
PREPROCESS_VERSION = "lanczos-cover-centercrop-v1"
IMAGE_COLUMNS = ("image_bytes", "image_path")
ORIGINAL_SIZE_COLUMNS = ("original_width", "original_height")


class TrainingDataError(ManifestError):
    """A manifest that cannot feed training (no caption column, no usable row)."""


Bucket = tuple[int, int]  # (width, height)


@dataclass(frozen=True)
class Example:
    key: str
    sha256: str
    caption: str
    size: tuple[int, int]  # original (width, height), EXIF orientation applied
    bucket: Bucket
    crop_top_left: tuple[int, int]
    image: bytes | None = None  # kept only when latents are encoded on the fly
    original_size: tuple[int, int] | None = None  # (width, height) from the manifest, before ingest resized it


def mirrored(example: Example) -> Example:
    """``example`` as its left-right mirror is seen: the crop's left edge counted from the other side (what
    SDXL's crop conditioning should say of a flipped image)."""
    resized, (top, left) = crop_box(example.size, example.bucket)
    return replace(example, crop_top_left=(top, resized[0] - left - example.bucket[0]))


@dataclass
class TrainingData:
    manifest: Manifest
    examples: list[Example]
    buckets: list[Bucket]
    stats: dict[str, int]

    def bucket_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for example in self.examples:
            name = f"{example.bucket[0]}x{example.bucket[1]}"
            counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))


def make_buckets(resolution: int, step: int, enabled: bool = True, max_ratio: float = 2.0) -> list[Bucket]:
    """Sizes with about ``resolution²`` pixels, sides multiples of ``step``, aspect at most ``max_ratio``."""
    if not enabled:
        return [(resolution, resolution)]
    area = resolution * resolution
    buckets: set[Bucket] = set()
    for width in range(step, int(resolution * max_ratio) + 1, step):
        height = (area // width) // step * step
        if height >= step and max(width, height) / min(width, height) <= max_ratio:
            buckets.update({(width, height), (height, width)})
    return sorted(buckets)


def nearest_bucket(width: int, height: int, buckets: list[Bucket]) -> Bucket:
    ratio = math.log(width / height)
    return min(buckets, key=lambda b: (abs(math.log(b[0] / b[1]) - ratio), -b[0] * b[1]))


def crop_box(size: tuple[int, int], bucket: Bucket) -> tuple[tuple[int, int], tuple[int, int]]:
    """(resized size, crop top-left) for the cover-then-centre-crop policy."""
    scale = max(bucket[0] / size[0], bucket[1] / size[1])
    resized = (max(bucket[0], round(size[0] * scale)), max(bucket[1], round(size[1] * scale)))
    return resized, ((resized[1] - bucket[1]) // 2, (resized[0] - bucket[0]) // 2)


def load_image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        return ImageOps.exif_transpose(img).convert("RGB")


def preprocess(data: bytes, bucket: Bucket) -> Any:
    """Image bytes -> a (3, height, width) float tensor in [-1, 1], resized and cropped to ``bucket``."""
    import numpy as np
    import torch

    image = load_image(data)
    resized, (top, left) = crop_box(image.size, bucket)
    image = image.resize(resized, Image.Resampling.LANCZOS).crop((left, top, left + bucket[0], top + bucket[1]))
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)
    return pixels / 127.5 - 1.0


def open_training_manifest(path: str | Path, caption_col: str) -> Manifest:
    manifest = open_manifest(path)
    if manifest.kind.name != "image":
        raise TrainingDataError(f"{path} is a {manifest.kind.name} manifest; LoRA training needs an image manifest")
    names = set(manifest.schema().names)
    if caption_col not in names:
        text = sorted(f.name for f in manifest.schema() if str(f.type) in ("string", "large_string"))
        hints = [c for c in text if "caption" in c or c in ("title", "alt_text")] or text
        raise ManifestSchemaError(
            f"{path}: no caption column {caption_col!r}; choose one with --caption-col (text columns: "
            f"{', '.join(hints)})"
        )
    if not names & set(IMAGE_COLUMNS):
        raise ManifestSchemaError(f"{path}: no image column (image_bytes or image_path)")
    return manifest


def load_training_data(
    manifest: Manifest, caption_col: str, buckets: list[Bucket], keep_bytes: bool
) -> TrainingData:
    """Scan the manifest once: usable rows become examples, the others are counted by reason."""
    stats = {"rows": manifest.num_rows, "ok": 0, "used": 0, "skipped/no_caption": 0, "skipped/no_image": 0,
             "skipped/undecodable": 0}
    examples: list[Example] = []
    for row, data in _iter_ok_rows(manifest, caption_col):
        stats["ok"] += 1
        caption = (row.get(caption_col) or "").strip()
        if not caption:
            stats["skipped/no_caption"] += 1
            continue
        if data is None:
            stats["skipped/no_image"] += 1
            continue
        try:
            with Image.open(io.BytesIO(data)) as img:
                size = ImageOps.exif_transpose(img).size
        except (OSError, SyntaxError, ValueError):
            stats["skipped/undecodable"] += 1
            continue
        bucket = nearest_bucket(size[0], size[1], buckets)
        sha = row.get("sha256") or hashlib.sha256(data).hexdigest()
        _, top_left = crop_box(size, bucket)
        examples.append(Example(row["key"], sha, caption, size, bucket, top_left, data if keep_bytes else None,
                                manifest_original_size(row)))
    stats["used"] = len(examples)
    if not examples:
        raise TrainingDataError(
            f"{manifest.path}: no usable rows for training: {stats['rows']} rows, {stats['ok']} with status ok, "
            f"{stats['skipped/no_caption']} of those without a {caption_col!r} caption, "
            f"{stats['skipped/no_image']} without image bytes, {stats['skipped/undecodable']} undecodable"
        )
    return TrainingData(manifest, examples, buckets, stats)


def manifest_original_size(row: dict[str, Any]) -> tuple[int, int] | None:
    """(original_width, original_height) of a manifest row, or None when either is missing or not positive."""
    width, height = (row.get(name) for name in ORIGINAL_SIZE_COLUMNS)
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None


def iter_image_bytes(manifest: Manifest, keys: set[str]) -> Iterator[tuple[str, bytes]]:
    """A second streaming pass that yields the bytes of the wanted rows only (for filling the cache)."""
    if not keys:
        return
    for row, data in _iter_ok_rows(manifest, None, wanted=keys):
        if data is not None:
            yield row["key"], data


def _iter_ok_rows(
    manifest: Manifest, caption_col: str | None, wanted: set[str] | None = None
) -> Iterator[tuple[dict[str, Any], bytes | None]]:
    """``(row, image bytes)`` for every ok row; the bytes are None when the row has none to read."""
    names = set(manifest.schema().names)
    columns = ["key", "sha256", *(c for c in (*IMAGE_COLUMNS, *ORIGINAL_SIZE_COLUMNS) if c in names)]
    if caption_col:
        columns.append(caption_col)
    blob_dirs = manifest.blob_dirs
    for batch in manifest.iter_batches(columns=columns, batch_size=256, only_ok=True):
        for row in batch.to_pylist():
            if wanted is not None and row["key"] not in wanted:
                continue
            try:
                data: bytes | None = read_image_bytes(row, blob_dirs)
            except (ManifestError, OSError):
                data = None
            yield row, data
