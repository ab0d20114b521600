"""Safe image decoding shared by every stage that opens image bytes."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

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


def probe_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageInfo:
    """Fully decode ``data`` (not just the header, so truncated files are caught) and return its size."""
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
                return ImageInfo(img.width, img.height, img.format or "UNKNOWN")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError("decompression_bomb") from None
    except ImageDecodeError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow signals bad data with these
        raise ImageDecodeError(f"undecodable:{type(exc).__name__}") from None
