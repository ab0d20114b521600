"""Strip EXIF (and the other location-bearing metadata blocks) from image bytes before they are published.

Camera metadata can carry GPS coordinates, device serial numbers and owner names, so a public dataset
leaves it out by default. The work is done only where it is needed:

- no EXIF/XMP/IPTC block: the bytes go out unchanged (the common case for crawled web images);
- a JPEG whose orientation is upright: the APP1 (EXIF, XMP) and APP13 (IPTC) segments are cut out of
  the byte stream, losslessly — the compressed image data is not touched and nothing is recompressed;
- an image whose EXIF says "rotate me" (orientation 2-8): dropping the tag would show it sideways, so
  the rotation is applied and the image re-encoded (JPEG at quality 95; PNG is lossless anyway);
- other formats with EXIF (PNG eXIf chunk, WebP, TIFF): re-encoded by Pillow without the metadata.

The ICC colour profile (JPEG APP2) is kept: it changes how colours look, not who took the photo.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from kdata.imageio import ImageDecodeError

JPEG_SOI = b"\xff\xd8"
APP1, APP13, SOS = 0xE1, 0xED, 0xDA
STRIPPED_MARKERS = {APP1, APP13}  # EXIF + XMP live in APP1, IPTC (Photoshop IRB) in APP13
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD9)}  # TEM, RST0-7, SOI, EOI: no length field
ORIENTATION_TAG = 0x0112
JPEG_REENCODE_QUALITY = 95

# How each image was handled; these names are the export's ``exif/<action>`` counters.
UNCHANGED, LOSSLESS, REENCODED = "unchanged", "stripped_lossless", "reencoded"


@dataclass(frozen=True)
class Stripped:
    data: bytes
    action: str
    size: tuple[int, int] | None = None  # (width, height) after re-encoding, which may have rotated it


def strip_metadata(data: bytes) -> Stripped:
    """Return ``data`` without EXIF/XMP/IPTC, re-encoding only when orientation must be applied."""
    if data.startswith(JPEG_SOI):
        segments = _jpeg_segments(data)
        if not any(marker in STRIPPED_MARKERS for marker, _, _ in segments):
            return Stripped(data, UNCHANGED)
        if _orientation(data) in (None, 1):
            return Stripped(_drop_segments(data, segments), LOSSLESS)
        return _reencode(data)
    if not _has_metadata(data):
        return Stripped(data, UNCHANGED)
    return _reencode(data)


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(marker, start, end)`` of every segment before the scan data; the rest is copied verbatim."""
    segments = []
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ImageDecodeError("undecodable:jpeg_segment")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        start = pos - 1
        if marker in STANDALONE_MARKERS:
            pos += 1
            continue
        if pos + 3 > len(data):
            raise ImageDecodeError("undecodable:jpeg_truncated")
        length = int.from_bytes(data[pos + 1 : pos + 3], "big")
        end = pos + 1 + length
        if length < 2 or end > len(data):
            raise ImageDecodeError("undecodable:jpeg_truncated")
        segments.append((marker, start, end))
        if marker == SOS:
            break
        pos = end
    return segments


def _drop_segments(data: bytes, segments: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data[:2])
    cursor = 2
    for marker, start, end in segments:
        if marker in STRIPPED_MARKERS:
            out += data[cursor:start]
            cursor = end
    out += data[cursor:]
    return bytes(out)


def _orientation(data: bytes) -> int | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.getexif().get(ORIENTATION_TAG)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"undecodable:{type(exc).__name__}") from None


def _has_metadata(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only, no pixel decoding
            return bool(img.getexif()) or any(k in img.info for k in ("exif", "xmp", "XML:com.adobe.xmp"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"undecodable:{type(exc).__name__}") from None


def _reencode(data: bytes) -> Stripped:
    try:
        with Image.open(io.BytesIO(data)) as img:
            image_format = img.format or "PNG"
            icc = img.info.get("icc_profile")
            upright = ImageOps.exif_transpose(img)
            params: dict = {"icc_profile": icc} if icc else {}
            if image_format == "JPEG":
                params["quality"] = JPEG_REENCODE_QUALITY
                upright = upright.convert("RGB") if upright.mode not in ("RGB", "L", "CMYK") else upright
            elif image_format == "WEBP":
                params["quality"] = JPEG_REENCODE_QUALITY
            buffer = io.BytesIO()
            upright.save(buffer, format=image_format, **params)
            return Stripped(buffer.getvalue(), REENCODED, upright.size)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"undecodable:{type(exc).__name__}") from None
