"""Extra pHashes per image so that lightly cropped and bordered copies still meet their original.

A whole-image pHash moves by 6-16 bits of 64 when 5-10% of the picture is cropped away (measured on
640 px drawings made in code; unrelated pictures stay at >= 24 bits), so a crop is not a near duplicate
under the 4-bit threshold. The cropped copy's whole picture is, however, close to a *centre crop* of the
original at the matching scale: with centre crops at 97, 94, 91 and 88% of the side, a centred crop of 2-10%
lands within 1.5% of one of them and the best pair differs in <= 4 bits on the same images. A uniform
border (a frame, letterboxing) is taken off first, so the hashes describe the content box; the same
trimmed box is hashed whole as well.

pHash sees luma only, so each hash carries the 2x2 mean colour of the region it describes (12 bytes), and
the colour guard compares the two regions that matched: a whole-image signature would call a bordered or
cropped copy another colour. The hashes are computed from the metrics thumbnail (<= 256 px), so they cost
a few 32x32 resizes, and are stored in one column, ``phash_crops``: comma-joined ``<hash>:<colour>`` hex.
A crop taken off one side only (the centre moves) is not covered: that needs anchored crops and
multiplies the hashes; see the README's near-duplicate table.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from kdata.ingest.phash import phash

CROP_SCALES = (0.97, 0.94, 0.91, 0.88)
# A border row or column: every pixel within this of the border colour (0-255 per channel), so JPEG
# ringing along a frame's edge does not stop the trim.
BORDER_TOLERANCE = 12
REGION_COLOUR_SIDE = 2
# Crops are cut from a copy this small: pHash looks at a 32x32 reduction anyway, and the resizes of five
# regions of a 128 px copy cost a quarter of those of a 256 px one.
CROP_SIDE = 128
MAX_BORDER = 0.25  # trim at most a quarter of each side: beyond that it is content, not a frame


def content_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) after removing uniform rows/columns of the top-left pixel's colour."""
    height, width = rgb.shape[:2]
    colour = rgb[0, 0].astype(np.int16)
    plain = (np.abs(rgb.astype(np.int16) - colour) <= BORDER_TOLERANCE).all(axis=2)
    rows, cols = plain.all(axis=1), plain.all(axis=0)
    top = _run_length(rows, int(height * MAX_BORDER))
    bottom = height - _run_length(rows[::-1], int(height * MAX_BORDER))
    left = _run_length(cols, int(width * MAX_BORDER))
    right = width - _run_length(cols[::-1], int(width * MAX_BORDER))
    if right - left < 8 or bottom - top < 8:
        return 0, 0, width, height
    return left, top, right, bottom


def _run_length(flags: np.ndarray, limit: int) -> int:
    """How many leading entries are True, at most ``limit``."""
    stop = np.flatnonzero(~flags[:limit])
    return int(stop[0]) if len(stop) else min(limit, len(flags))


def region_entry(region: Image.Image) -> str:
    """``<pHash>:<2x2 RGB mean>`` in hex."""
    colour = region.resize((REGION_COLOUR_SIDE, REGION_COLOUR_SIDE), Image.Resampling.BOX).tobytes().hex()
    return f"{phash(region)}:{colour}"


def parse_entry(entry: str) -> tuple[str, str]:
    hash_hex, _, colour = entry.partition(":")
    return hash_hex, colour


def crop_hashes(small: Image.Image) -> list[str]:
    """Entries for the content box (when a border was trimmed) and its centre crops, in a fixed order."""
    small = small.copy()
    small.thumbnail((CROP_SIDE, CROP_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    left, top, right, bottom = content_box(np.asarray(small))
    trimmed = (left, top, right, bottom) != (0, 0, *small.size)
    box = small.crop((left, top, right, bottom)) if trimmed else small
    hashes = [region_entry(box)] if trimmed else []
    width, height = box.size
    for scale in CROP_SCALES:
        dx, dy = round(width * (1 - scale) / 2), round(height * (1 - scale) / 2)
        hashes.append(region_entry(box.crop((dx, dy, width - dx, height - dy))))
    return hashes
