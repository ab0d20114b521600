"""``kcli ingest crop``: random square crops after resizing the short side, as an explicit step.

A common recipe for LoRA training data (kohya-ss and diffusers' training scripts crop the same way
at load time): scale each image so its short side is ``short_side``, then cut ``crops`` random
``size`` x ``size`` squares. Doing it once, as a manifest step, makes the crops inspectable and the
training input fixed. Each ``ok`` row becomes ``crops`` rows keyed ``<key>#crop<i>`` with ``crop_of``
(the parent key) and ``crop_box`` (``[x, y, w, h]`` in the resized image); rejected and failed rows pass
through once, untouched. Offsets come from a generator seeded by ``seed`` and the key, so a re-run (or
a resumed run) cuts the same crops.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from annotated_types import Interval

from kdata.blobs import BlobStore, read_image_bytes, unreadable_reason
from kdata.config import AtLeastOne
from kdata.errors import ManifestError
from kdata.ingest.columns import STORES, Store
from kdata.ingest.imaging import MAX_IMAGE_PIXELS, ImageOptions, ImageRejected, encode, load_picture
from kdata.ingest.phash import phash
from kdata.manifest import Manifest, iter_shard_batches
from kdata.runner import RunOptions, RunResult, Stage, run_stage
from kdata.schema import Status

CROP_FIELDS = pa.schema(
    [pa.field("crop_of", pa.string()), pa.field("crop_index", pa.int32()), pa.field("crop_box", pa.string())]
)
PIL_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass
class CropConfig:
    short_side: AtLeastOne = 512
    size: AtLeastOne = 512
    crops: AtLeastOne = 1
    seed: int = 0
    encode_format: Literal["jpeg", "png", "webp"] = "jpeg"  # PIL_NAMES' keys
    encode_quality: Annotated[int, Interval(ge=1, le=100)] = 95
    store: Store = "inline"
    threads: AtLeastOne = 4
    max_pixels: AtLeastOne = MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        if not 1 <= self.size <= self.short_side:
            raise ValueError(f"size ({self.size}) must be between 1 and short_side ({self.short_side})")
        if self.crops < 1 or self.encode_format not in PIL_NAMES or self.store not in STORES:
            raise ValueError(f"crops must be >= 1, encode_format one of {', '.join(PIL_NAMES)}, "
                             f"store one of {', '.join(STORES)}")


@dataclass(frozen=True)
class CropShardSource:
    """One input shard with each ``ok`` row repeated ``crops`` times under its crop key."""

    path: Path
    crops: int

    @property
    def name(self) -> str:
        return self.path.name

    def read(self, batch_size: int) -> Iterator[pa.Table]:
        for batch in iter_shard_batches(self.path, batch_size=max(1, batch_size // self.crops)):
            yield expand(pa.Table.from_batches([batch]), self.crops)


def expand(table: pa.Table, crops: int) -> pa.Table:
    """Repeat ok rows ``crops`` times (keys ``<key>#crop<i>``); other rows stay single, uncropped."""
    ok = pc.fill_null(pc.equal(table.column("status"), Status.OK), False).to_pylist()
    take, crop_of, crop_index, keys = [], [], [], []
    for row, (key, is_ok) in enumerate(zip(table.column("key").to_pylist(), ok)):
        for index in range(crops if is_ok else 1):
            take.append(row)
            crop_of.append(key if is_ok else None)
            crop_index.append(index if is_ok else None)
            keys.append(f"{key}#crop{index}" if is_ok else key)
    out = table.take(pa.array(take, pa.int64()))
    out = out.set_column(out.schema.get_field_index("key"), "key", pa.array(keys, pa.string()))
    for name in CROP_FIELDS.names:
        if name in out.column_names:
            out = out.drop_columns([name])
    out = out.append_column(CROP_FIELDS.field("crop_of"), pa.array(crop_of, pa.string()))
    out = out.append_column(CROP_FIELDS.field("crop_index"), pa.array(crop_index, pa.int32()))
    return out.append_column(CROP_FIELDS.field("crop_box"), pa.nulls(out.num_rows, pa.string()))


class CropStage(Stage):
    name = "ingest-crop"

    def setup(self) -> None:
        config: CropConfig = self.config
        self.options = ImageOptions(resize_mode="keep_ratio", image_size=config.short_side,
                                    encode_format=config.encode_format, max_pixels=config.max_pixels)
        self.pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="crop")
        self.blobs = BlobStore(self.context.output_dir / "blobs") if config.store == "blobs" else None

    def process(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        for row, update in zip(rows, self.pool.map(self.crop_one, rows)):
            row.update(update)
        schema = batch.schema.remove_metadata()
        if "phash" not in schema.names:
            schema = schema.append(pa.field("phash", pa.string()))
        return pa.Table.from_pylist(rows, schema=schema)

    def crop_one(self, row: dict[str, Any]) -> dict[str, Any]:
        config: CropConfig = self.config
        try:
            data = read_image_bytes(row, self.context.blob_dirs)
            picture = load_picture(data, self.options).picture
        except (ManifestError, OSError) as exc:
            return {"status": Status.FAILED, "reason": unreadable_reason(exc)}
        except ImageRejected as exc:
            return {"status": Status.FAILED, "reason": exc.reason}
        rng = random.Random(f"{config.seed}:{row['key']}")
        x = rng.randint(0, picture.width - config.size)
        y = rng.randint(0, picture.height - config.size)
        crop = picture.crop((x, y, x + config.size, y + config.size))
        fmt = PIL_NAMES[config.encode_format]
        stored = encode(crop, fmt, config.encode_quality)
        digest = hashlib.sha256(stored).hexdigest()
        update = {"sha256": digest, "width": config.size, "height": config.size, "format": fmt,
                  "phash": phash(crop), "crop_box": json.dumps([x, y, config.size, config.size])}
        if self.blobs is not None:
            update.update(image_path=self.blobs.put(stored, fmt, digest), image_bytes=None)
        else:
            update.update(image_bytes=stored, image_path=None)
        return update


def crop_manifest(
    parent: Manifest,
    config: CropConfig,
    out: str | Path,
    options: RunOptions = RunOptions(),
) -> RunResult:
    sources = [CropShardSource(path, config.crops) for path in parent.shard_paths]
    return run_stage(CropStage, config, sources, out, parent=parent, options=options)
