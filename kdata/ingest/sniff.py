"""What a byte string is, decided from its first bytes: never from a file extension or ``Content-Type``.

Servers routinely send HTML error pages with ``200`` and ``image/jpeg``, and files named ``.jpg`` hold
PNG or WebP. Raster formats Pillow can decode are named by their signature; a few common non-images get
a name too, so a row's reason says what came back (``not_an_image:html``) instead of a decoder error.
Signatures: the formats' own specifications (JPEG/JFIF SOI marker, PNG, GIF87a/89a, RIFF/WEBP, BMP,
TIFF II*/MM*, ISO-BMFF ``ftyp`` brands for AVIF/HEIC).
"""

from __future__ import annotations

RASTER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
ISO_BMFF_BRANDS = {b"avif": "avif", b"avis": "avif", b"heic": "heic", b"heix": "heic", b"mif1": "heic"}

# Formats kcli decodes with Pillow out of the box; others (HEIC needs a plugin) are recorded.
DECODABLE = frozenset({"jpeg", "png", "gif", "webp", "bmp", "tiff"})


def decodable_formats() -> frozenset[str]:
    """:data:`DECODABLE`, plus AVIF when this Pillow was built with libavif (Pillow >= 11.3 wheels are)."""
    from PIL import features  # deferred: sniffing alone needs no Pillow

    return DECODABLE | {"avif"} if features.check("avif") else DECODABLE


def sniff(data: bytes) -> str:
    """Return a lower-case format name (``jpeg``, ``png`` ...), a non-image kind, or ``unknown``."""
    if not data:
        return "empty"
    head = data[:64]
    for signature, name in RASTER_SIGNATURES:
        if head.startswith(signature):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in ISO_BMFF_BRANDS:
        return ISO_BMFF_BRANDS[head[8:12]]
    return _sniff_text(data[:1024])


def _sniff_text(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "html"
    if b"<svg" in text and text.startswith((b"<svg", b"<?xml", b"<!doctype svg", b"<!--")):
        return "svg"
    if text.startswith(b"<?xml"):
        return "xml"
    if text.startswith((b"{", b"[")):
        return "json"
    return "unknown"
