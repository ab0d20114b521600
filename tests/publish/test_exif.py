"""EXIF stripping: unchanged when absent, lossless for upright JPEGs, re-encoded only to apply rotation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kdata.imageio import ImageDecodeError
from kdata.publish.exif import LOSSLESS, REENCODED, UNCHANGED, strip_metadata
from tests.publish.manifests import GPS_TEXT, with_exif


def jpeg(size: tuple[int, int] = (40, 24)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size)
    image.putdata([((x * 7) % 256, (y * 11) % 256, 90) for y in range(size[1]) for x in range(size[0])])
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_image_without_metadata_is_returned_as_is() -> None:
    data = jpeg()
    result = strip_metadata(data)
    assert result.action == UNCHANGED and result.data is data


def test_upright_jpeg_loses_its_exif_without_recompression() -> None:
    original = with_exif(jpeg())
    assert GPS_TEXT.encode() in original
    result = strip_metadata(original)
    assert result.action == LOSSLESS and result.size is None
    assert GPS_TEXT.encode() not in result.data
    assert not Image.open(io.BytesIO(result.data)).getexif()
    assert np.array_equal(pixels(result.data), pixels(original))  # same compressed scan, same pixels


def test_rotated_jpeg_is_turned_upright_and_reencoded() -> None:
    original = with_exif(jpeg((40, 24)), orientation=6)
    result = strip_metadata(original)
    assert result.action == REENCODED and result.size == (24, 40)
    stripped = Image.open(io.BytesIO(result.data))
    assert stripped.size == (24, 40) and not stripped.getexif()
    assert GPS_TEXT.encode() not in result.data


def test_png_with_exif_is_rewritten_losslessly() -> None:
    image = Image.open(io.BytesIO(jpeg())).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = GPS_TEXT
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif.tobytes())
    result = strip_metadata(buffer.getvalue())
    assert result.action == REENCODED
    assert GPS_TEXT.encode() not in result.data
    assert np.array_equal(pixels(result.data), np.asarray(image))


def test_broken_bytes_are_a_decode_error_not_a_crash() -> None:
    with pytest.raises(ImageDecodeError):
        strip_metadata(b"\xff\xd8\xff\xe1\x00")  # an EXIF segment cut off in its length field
    with pytest.raises(ImageDecodeError):
        strip_metadata(b"not an image")
