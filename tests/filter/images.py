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


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A varied, photo-like picture: smooth colour waves (no flat areas) under a dozen shapes, softened, with
    sensor-like grain (so it is as sharp as a photograph to the blur rule)."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    waves = rng.uniform(0, 1, (3, 3))
    channels = [128 + 100 * np.sin(2 * np.pi * (a * 3 * xx + b * 3 * yy) + c * 6) for a, b, c in waves]
    image = Image.fromarray(np.stack(channels, -1).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        box = (x0, y0, x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 200)))
        fill = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    soft = np.asarray(image.filter(ImageFilter.GaussianBlur(1)), dtype=np.float32)
    grain = rng.normal(0.0, 6.0, soft.shape[:2])[..., None]
    return Image.fromarray((soft + grain).clip(0, 255).astype(np.uint8))


def centre_crop(image: Image.Image, fraction: float) -> Image.Image:
    """``fraction`` of each side cut away, half on each edge (a 2% crop of 640 px takes 6 px left and right)."""
    width, height = image.size
    dx, dy = round(width * fraction / 2), round(height * fraction / 2)
    return image.crop((dx, dy, width - dx, height - dy))


def bordered(image: Image.Image, side: int = 24, colour: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """The picture shrunk into a frame of ``colour``, the same outer size (a matted or letterboxed copy)."""
    framed = Image.new("RGB", image.size, colour)
    inner = image.resize((image.width - 2 * side, image.height - 2 * side), Image.Resampling.LANCZOS)
    framed.paste(inner, (side, side))
    return framed


def colour_shifted(image: Image.Image) -> Image.Image:
    """A slight white-balance change: red up 6%, blue down 6% (an edit, not another picture)."""
    r, g, b = image.split()
    return Image.merge("RGB", (r.point(lambda v: min(255, int(v * 1.06))), g, b.point(lambda v: int(v * 0.94))))


# Planted copies: name -> (encoded bytes of a copy of the picture). JPEG qualities and sizes as users meet them.
COPIES: dict[str, Any] = {
    "resize_half": lambda im: encode(im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), "JPEG",
                                     quality=90),
    "jpeg_q55": lambda im: encode(im, "JPEG", quality=55),
    "jpeg_q92": lambda im: encode(im, "JPEG", quality=92),
    "crop_2pct": lambda im: encode(centre_crop(im, 0.02), "JPEG", quality=90),
    "crop_5pct": lambda im: encode(centre_crop(im, 0.05), "JPEG", quality=90),
    "crop_10pct": lambda im: encode(centre_crop(im, 0.10), "JPEG", quality=90),
    "border": lambda im: encode(bordered(im), "JPEG", quality=90),
    "colour_shift": lambda im: encode(colour_shifted(im), "JPEG", quality=90),
    "recolour": lambda im: encode(recoloured(im), "JPEG", quality=90),
}
