"""A small filtered-and-captioned image manifest built in code from the bundled samples.

It has what publish and report must handle: ok, rejected and failed rows with reasons, scores, Korean
and English captions, two sources with different licences, models in the lineage, a JPEG with GPS
EXIF and one whose EXIF says "rotate 90°".
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
from PIL import Image

from kdata.manifest import Lineage, Manifest, write_manifest
from kdata.samples import sample_rows
from kdata.schema import IMAGE, Status, conform_table

REJECTED = {
    "hanok-12-blurred": "blurry",
    "ink_painting-10": "blurry",
    "hanbok-00-small": "too_small",
    "food-19": "duplicate_of=food-18",
}
FAILED = {"ink_painting-11": "undecodable:OSError"}
GPS_KEY = "hanbok-01"
ROTATED_KEY = "hanbok-02"
GPS_TEXT = "GPS-SECRET-37.5665N"


def with_exif(data: bytes, orientation: int | None = None) -> bytes:
    image = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    exif[0x010F] = GPS_TEXT  # camera maker: a text we can look for in the published bytes
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def filtered_rows() -> list[dict]:
    rows = sample_rows()
    for index, row in enumerate(rows):
        key = row["key"]
        row["caption_ko"] = row.get("alt_text")
        row["caption_en_model"] = "tiny-captioner"
        row["clip_score"] = round(0.1 + 0.03 * index, 3)
        row["aesthetic_score"] = round(6.0 - 0.2 * index, 3)
        row["width"], row["height"] = Image.open(io.BytesIO(row["image_bytes"])).size
        row["format"] = "JPEG"
        row["reason"] = None  # from_pylist takes its columns from the first row
        if row["category"] == "ink_painting":
            row.update(source="museum-archive", license="CC-BY-4.0")
        if key == GPS_KEY:
            row["image_bytes"] = with_exif(row["image_bytes"])
        if key == ROTATED_KEY:
            row["image_bytes"] = with_exif(row["image_bytes"], orientation=6)
        if key in REJECTED:
            row.update(status=Status.REJECTED, reason=REJECTED[key])
        if key in FAILED:
            row.update(status=Status.FAILED, reason=FAILED[key], image_bytes=row["image_bytes"][:100])
    return rows


def write_filtered_manifest(root: Path) -> Manifest:
    """Two stages deep (filter, then caption) so the lineage chain names models."""
    rows = filtered_rows()
    table = conform_table(pa.Table.from_pylist(rows), IMAGE)
    half = table.num_rows // 2
    parent = write_manifest(root / "filtered", [table.slice(0, half), table.slice(half)], IMAGE,
                            Lineage(stage="filter", config={"clip_model": "tiny-clip", "min_clip_score": 0.2}))
    lineage = Lineage(stage="caption", config={"captioner": "tiny-captioner", "translator": "tiny-translator-en-ko",
                                               "input": str(root / "filtered")},
                      parent=str(parent.path), parent_fingerprint=parent.fingerprint)
    return write_manifest(root / "captioned", [table.slice(0, half), table.slice(half)], IMAGE, lineage, parent=parent)
