"""Tiny images made in code for the ingest tests: every format and oddity the downloader must handle."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def picture(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """A smooth, photo-like RGB picture (gradients and a disc), different for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    disc = ((x - cx) ** 2 + (y - cy) ** 2) < (min(width, height) / 4) ** 2
    base = np.stack([x * 255 / width, y * 255 / height, np.full_like(x, rng.integers(0, 255))], -1)
    base[disc] = rng.integers(0, 255, 3)
    return Image.fromarray(base.astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(width: int = 96, height: int = 64, seed: int = 0, quality: int = 90) -> bytes:
    return encode(picture(width, height, seed), "JPEG", quality=quality)


def cmyk_jpeg() -> bytes:
    return encode(picture(seed=3).convert("CMYK"), "JPEG", quality=90)


def png_16bit() -> bytes:
    ramp = (np.arange(48 * 40, dtype=np.uint32).reshape(40, 48) * 30).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")


def palette_alpha_png() -> bytes:
    image = picture(seed=4).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(image, "PNG", transparency=0)


def animated_gif(frames: int = 3) -> bytes:
    images = [picture(seed=10 + i).convert("P") for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def webp() -> bytes:
    return encode(picture(seed=5), "WEBP", quality=80)


def rotated_jpeg(orientation: int = 6) -> bytes:
    """A 96x64 JPEG whose EXIF says 'rotate 90 degrees': displayed as 64x96."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "kcli-test-camera"
    return encode(picture(seed=6), "JPEG", quality=90, exif=exif.tobytes())


def bomb_png(side: int = 20_000) -> bytes:
    """A valid PNG header claiming ``side`` x ``side`` pixels (400 MP) in a few dozen bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
HTML = b"<!DOCTYPE html><html><body>Not found, but 200 OK</body></html>"


def truncated_jpeg() -> bytes:
    """A JPEG cut off two thirds of the way into its compressed data (headers intact)."""
    data = encode(picture(160, 120, seed=11), "JPEG", quality=95)
    return data[: len(data) * 2 // 3]


def avif() -> bytes:
    """An AVIF written by Pillow's own libavif encoder (Pillow >= 11.3)."""
    return encode(picture(80, 60, seed=8), "AVIF", quality=80)
