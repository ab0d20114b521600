"""Tiny images and rows made in code for the filter tests."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from kdata.schema import Status


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def scene(size: tuple[int, int] = (192, 160), seed: int = 0,
          colour: tuple[int, int, int] = (200, 60, 40)) -> Image.Image:
    """A sharp, colourful drawing with plenty of edges and grey levels."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, (40 + seed * 7 % 100, 90, 160))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x0, y0 = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
        fill = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.rectangle((x0, y0, x0 + int(rng.integers(8, 60)), y0 + int(rng.integers(8, 60))), fill=fill)
    draw.rectangle((10, 10, 50, 50), fill=colour)
    return image


def blurred(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(6))


def recoloured(image: Image.Image) -> Image.Image:
    """The same picture with chroma swapped and luma kept: pHash-equal, visibly other colours."""
    y, cb, cr = image.convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cr, cb)).convert("RGB")


def ink_painting(size: tuple[int, int] = (200, 150)) -> Image.Image:
    """A few dark strokes on blank paper, grayscale: what the ink-painting scope must protect."""
    image = Image.new("L", size, 246)
    draw = ImageDraw.Draw(image)
    for k in range(4):
        draw.line([(60, 140 - 30 * k), (64, 112 - 30 * k)], fill=40, width=5)
        draw.line([(64, 112 - 30 * k), (110, 95 - 30 * k)], fill=70, width=3)
    return image.convert("RGB")


def row(key: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"key": key, "image_bytes": data, "sha256": hashlib.sha256(data).hexdigest(), "status": Status.OK,
            "alt_text": extra.pop("alt_text", "빨간 지붕이 있는 집"), **extra}


def decisions(path: Path) -> dict[str, tuple[str, str | None]]:
    from kdata.manifest import open_manifest

    table = open_manifest(path).read_table(["key", "status", "reason"])
    return {r["key"]: (r["status"], r["reason"]) for r in table.to_pylist()}
