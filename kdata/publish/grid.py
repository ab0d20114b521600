"""The dataset card's sample grid: the first images of the export, tiled into one small JPEG."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

from kdata.atomic import atomic_path

CELL = 160
COLUMNS = 4
BACKGROUND = (245, 245, 245)


def write_sample_grid(files: Sequence[Path], count: int, target: Path, cell: int = CELL) -> int:
    """Tile up to ``count`` images from the published files into ``target``; return how many were drawn."""
    thumbs: list[Image.Image] = []
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=["image"], batch_size=max(1, count)):
            for value in batch.column("image").to_pylist():
                if len(thumbs) >= count:
                    break
                thumbs.append(_thumbnail(value["bytes"], cell))
            if len(thumbs) >= count:
                break
    if not thumbs:
        return 0
    columns = min(COLUMNS, len(thumbs))
    rows = -(-len(thumbs) // columns)
    canvas = Image.new("RGB", (columns * cell, rows * cell), BACKGROUND)
    for index, thumb in enumerate(thumbs):
        x, y = (index % columns) * cell, (index // columns) * cell
        canvas.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
    with atomic_path(target) as tmp:
        canvas.save(tmp, format="JPEG", quality=85)
    return len(thumbs)


def _thumbnail(data: bytes, cell: int) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (cell, cell))  # JPEG: decode at a reduced scale, several times faster
        thumb = img.convert("RGB")
    thumb.thumbnail((cell - 4, cell - 4))
    return thumb
