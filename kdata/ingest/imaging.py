"""Decode, check and (optionally) resize and re-encode one image, safely.

Every image goes through the same steps: sniff the bytes (:mod:`kdata.ingest.sniff`), open with a
decompression-bomb limit, decode fully (a truncated file fails here, not in a trainer), apply the EXIF
orientation, bring odd modes (CMYK, 16-bit, palette with alpha) to RGB/RGBA/L, and hash. By default the
original bytes are kept; a resize mode (img2dataset's ``no``/``keep_ratio``/``keep_ratio_largest``/
``center_crop``/``border``) or an explicit ``encode_format`` re-encodes.

JPEGs that will be shrunk are decoded with Pillow's draft mode: libjpeg's DCT scaling decodes at 1/2,
1/4 or 1/8 size directly, so a 512 px JPEG bound for 256 px never materialises at full size (about 4x
faster decode+resize, measured on this machine; see shared/ENVIRONMENT.md).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from annotated_types import Interval
from PIL import Image, ImageOps

from kdata.config import AtLeastOne
from kdata.imageio import MAX_IMAGE_PIXELS
from kdata.ingest.exif import exif_json
from kdata.ingest.phash import phash
from kdata.ingest.sniff import decodable_formats, sniff

DECODABLE = decodable_formats()
RESIZE_MODES = ("no", "keep_ratio", "keep_ratio_largest", "center_crop", "border")
ENCODE_FORMATS = ("keep", "jpeg", "png", "webp")
ResizeMode = Literal[RESIZE_MODES]  # type: ignore[valid-type]
EncodeFormat = Literal[ENCODE_FORMATS]  # type: ignore[valid-type]
PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


@dataclass
class ImageOptions:
    """How images are checked and stored (img2dataset's names where it has the same option)."""

    resize_mode: ResizeMode = "no"
    image_size: AtLeastOne = 256
    resize_only_if_bigger: bool = False
    encode_format: EncodeFormat = "keep"  # keep the source format when re-encoding (JPEG/PNG/WebP), else this one
    encode_quality: Annotated[int, Interval(ge=1, le=100)] = 95
    max_pixels: AtLeastOne = MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {', '.join(RESIZE_MODES)}, got {self.resize_mode!r}")
        if self.encode_format not in ENCODE_FORMATS:
            raise ValueError(f"encode_format must be one of {', '.join(ENCODE_FORMATS)}, got {self.encode_format!r}")
        if self.image_size < 1 or not 1 <= self.encode_quality <= 100:
            raise ValueError("image_size must be >= 1 and encode_quality within 1..100")

    @property
    def reencode(self) -> bool:
        return self.resize_mode != "no" or self.encode_format != "keep"


@dataclass
class ImageResult:
    """What is stored for one image and what was learnt decoding it."""

    data: bytes
    format: str  # of the stored bytes, Pillow's name (JPEG, PNG, ...)
    width: int  # of the stored image, as displayed (EXIF orientation applied)
    height: int
    original_width: int
    original_height: int
    mode: str  # the source's pixel mode (CMYK, I;16, P ...), before any conversion
    frames: int  # > 1 for animated images (only the first frame is used when re-encoding)
    phash: str
    exif_json: str | None


class ImageRejected(Exception):
    """An image that cannot be used; ``reason`` becomes the row's reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Decoded:
    """A decoded picture (orientation applied, mode normalised, resized when asked) and its facts."""

    picture: Image.Image
    source_format: str
    mode: str
    frames: int
    original: tuple[int, int]  # as displayed
    exif_json: str | None
    resized: bool


def process_image(data: bytes, options: ImageOptions) -> ImageResult:
    """Check ``data`` and return what to store; raise :class:`ImageRejected` with a reason."""
    decoded = load_picture(data, options)
    picture = decoded.picture
    if not options.reencode:
        stored, stored_format = data, decoded.source_format
        width, height = decoded.original
    else:
        stored_format = encode_format_for(decoded.source_format, options)
        stored = encode(picture, stored_format, options.encode_quality)
        width, height = picture.size
    return ImageResult(stored, stored_format, width, height, decoded.original[0], decoded.original[1],
                       decoded.mode, decoded.frames, phash(picture), decoded.exif_json)


def load_picture(data: bytes, options: ImageOptions) -> Decoded:
    """Sniff, decode safely and resize per ``options``; raise :class:`ImageRejected` with a reason."""
    kind = sniff(data)
    if kind == "empty":
        raise ImageRejected("empty")
    if kind not in DECODABLE:
        known_non_image = kind in ("html", "xml", "json", "unknown")
        raise ImageRejected(f"not_an_image:{kind}" if known_non_image else f"unsupported:{kind}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _decode(data, options)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("decompression_bomb") from None
    except ImageRejected:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # Pillow signals bad data with these
        detail = "truncated" if "truncated" in str(exc) else type(exc).__name__
        raise ImageRejected(f"undecodable:{detail}") from None
    except Exception as exc:  # noqa: BLE001 - a decoder fed hostile bytes may raise anything (struct.error,
        # IndexError ... from format plugins); one bad file must become a row's reason, not end the shard.
        raise ImageRejected(f"undecodable:{type(exc).__name__}") from None


def _decode(data: bytes, options: ImageOptions) -> Decoded:
    Image.MAX_IMAGE_PIXELS = options.max_pixels
    with Image.open(io.BytesIO(data)) as img:
        if img.width * img.height > options.max_pixels:
            raise ImageRejected("decompression_bomb")
        source_format, mode = img.format or "UNKNOWN", img.mode
        frames = int(getattr(img, "n_frames", 1))
        exif = img.getexif()
        orientation = int(exif.get(0x0112, 1) or 1)
        swap = orientation in TRANSPOSED_ORIENTATIONS
        original = (img.height, img.width) if swap else (img.width, img.height)
        target = target_size(original, options) if options.resize_mode != "no" else None
        if source_format == "JPEG" and (target is not None or not options.reencode):
            # Draft decodes at the smallest DCT scale still >= the size needed: the resize target, or
            # (keeping the original bytes) just enough pixels for the perceptual hash.
            wanted = _draft_request(target, original) if target else (64, 64)
            img.draft(_draft_mode(mode), (wanted[1], wanted[0]) if swap else wanted)
        img.load()
        meta = exif_json(exif)
        picture = normalise_mode(ImageOps.exif_transpose(img) if orientation != 1 else img)
    if target is not None:
        picture = resize(picture, target, options)
    return Decoded(picture, source_format, mode, frames, original, meta, target is not None)


def _draft_mode(mode: str) -> str:
    return "L" if mode == "L" else "RGB" if mode in ("RGB", "YCbCr") else mode


def _draft_request(target: tuple[int, int, int, int], original: tuple[int, int]) -> tuple[int, int]:
    """The decoded size needed before cropping/padding: the scaled image, never above the original."""
    scaled_w, scaled_h = target[2], target[3]
    return min(scaled_w, original[0]), min(scaled_h, original[1])


def target_size(original: tuple[int, int], options: ImageOptions) -> tuple[int, int, int, int] | None:
    """``(final_w, final_h, scaled_w, scaled_h)`` for the resize mode, or None when nothing changes."""
    width, height = original
    size = options.image_size
    side = max(width, height) if options.resize_mode in ("keep_ratio_largest", "border") else min(width, height)
    if options.resize_only_if_bigger and side <= size:
        return None
    scale = size / side
    scaled_w, scaled_h = max(1, round(width * scale)), max(1, round(height * scale))
    if options.resize_mode in ("center_crop", "border"):
        return size, size, scaled_w, scaled_h
    return scaled_w, scaled_h, scaled_w, scaled_h


def resize(picture: Image.Image, target: tuple[int, int, int, int], options: ImageOptions) -> Image.Image:
    final_w, final_h, scaled_w, scaled_h = target
    if picture.size != (scaled_w, scaled_h):
        # Lanczos for quality either way; draft mode already did the heavy part of any large shrink.
        picture = picture.resize((scaled_w, scaled_h), Image.Resampling.LANCZOS)
    if options.resize_mode == "center_crop":
        left, top = (scaled_w - final_w) // 2, (scaled_h - final_h) // 2
        picture = picture.crop((left, top, left + final_w, top + final_h))
    elif options.resize_mode == "border":
        canvas = Image.new(picture.mode, (final_w, final_h))  # black border, as img2dataset pads
        canvas.paste(picture, ((final_w - scaled_w) // 2, (final_h - scaled_h) // 2))
        picture = canvas
    return picture


def normalise_mode(img: Image.Image) -> Image.Image:
    """Bring any decoded mode to L, RGB or RGBA (what encoders and models expect)."""
    mode = img.mode
    if mode in ("L", "RGB", "RGBA"):
        return img
    if mode.startswith("I") or mode == "F":
        # 16-bit (I;16*, or I from a 16-bit PNG): scale 0..65535 to 0..255; Pillow's convert would clip.
        values = np.asarray(img, dtype=np.float64)
        return Image.fromarray(np.clip(values / 257.0, 0, 255).round().astype(np.uint8), "L")
    if mode in ("P", "PA"):
        return img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
    if mode in ("LA", "La", "RGBa"):
        return img.convert("RGBA")
    if mode == "1":
        return img.convert("L")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def encode_format_for(source_format: str, options: ImageOptions) -> str:
    if options.encode_format != "keep":
        return PIL_FORMATS[options.encode_format]
    return source_format if source_format in PIL_FORMATS.values() else "PNG"


def encode(picture: Image.Image, pil_format: str, quality: int) -> bytes:
    if pil_format == "JPEG" and picture.mode not in ("L", "RGB"):
        picture = _flatten_alpha(picture)
    buffer = io.BytesIO()
    if pil_format in ("JPEG", "WEBP"):
        picture.save(buffer, pil_format, quality=quality)
    else:
        picture.save(buffer, pil_format)
    return buffer.getvalue()


def _flatten_alpha(picture: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite on white (transparent areas of web images are meant as background)."""
    rgba = picture.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background

