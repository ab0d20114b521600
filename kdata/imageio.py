"""Safe image decoding shared by every stage that opens image bytes."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageOps

# Pillow's own default (~89 MP) guards against decompression bombs; kcli keeps a bound of the same
# order but makes it explicit and turns Pillow's warning into an error, so a bomb is a recorded row.
MAX_IMAGE_PIXELS = 89_478_485


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


class ImageDecodeError(ValueError):
    """Bytes that are not a decodable image; the message becomes the row's reason."""


@contextmanager
def decoded_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> Iterator[Image.Image]:
    """The image in ``data``, fully decoded (not just the header, so truncated files are caught).

    Bad bytes, a decompression bomb (Pillow's warning made an error) or an error of the caller's own
    handling of the image inside the block raise :class:`ImageDecodeError` with the row's reason.
    """
    if not data:
        raise ImageDecodeError("empty")
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > max_pixels:
                    raise ImageDecodeError("decompression_bomb")
                img.load()
                yield img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError("decompression_bomb") from None
    except ImageDecodeError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow signals bad data with these
        raise ImageDecodeError(f"undecodable:{type(exc).__name__}") from None


def probe_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageInfo:
    """Fully decode ``data`` and return its size and format, or raise :class:`ImageDecodeError`."""
    with decoded_image(data, max_pixels) as img:
        return ImageInfo(img.width, img.height, img.format or "UNKNOWN")


def decode_rgb(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Fully decode ``data`` to an upright RGB image, or raise :class:`ImageDecodeError`."""
    with decoded_image(data, max_pixels) as img:
        return ImageOps.exif_transpose(img).convert("RGB")
