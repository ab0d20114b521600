"""Import and export speed on generated JPEGs, beside the baselines a user would otherwise run.

Run: ``PYTHONPATH=. .venv/bin/python bench/interop_roundtrip.py [--images 1000] [--repeat 2]``. One worker
process, 512x384 JPEGs, measured in one run and alternated, each line with the load average:

- ``import`` of img2dataset's Parquet output (bytes in the ``jpg`` column) and of webdataset tar shards,
  against ``ingest folder`` of the same images as files (the same per-image work: decode, hash, pHash);
- ``export --format webdataset`` against webdataset's own ``TarWriter`` writing the same samples (the
  plain copy: no manifest reading, no EXIF check), and ``export --format kohya``.

Numbers taken at a load average above 2 are not comparable (shared/ENVIRONMENT.md); the ratios are
printed with the load of each side.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from kdata.ingest.folder import FolderIngestConfig, ingest_folder
from kdata.interop.export import ExportConfig, export_manifest
from kdata.interop.stage import ImportConfig, import_dataset


def make_jpegs(count: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(count):
        base = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        out = io.BytesIO()
        Image.fromarray(base).resize((512, 384), Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
        images.append(out.getvalue())
    return images


def write_sources(work: Path, images: list[bytes]) -> None:
    import webdataset as wds

    keys = [f"00000{i:04d}" for i in range(len(images))]
    (work / "i2d").mkdir()
    pq.write_table(pa.table({"url": [f"http://x/{k}.jpg" for k in keys], "caption": ["a bench image"] * len(keys),
                             "key": keys, "status": ["success"] * len(keys), "jpg": images}),
                   work / "i2d" / "00000.parquet")
    (work / "wds").mkdir()
    with wds.ShardWriter(str(work / "wds" / "%05d.tar"), maxcount=500, verbose=0) as sink:
        for key, data in zip(keys, images):
            sink.write({"__key__": key, "jpg": data, "txt": "a bench image"})
    (work / "files").mkdir()
    for key, data in zip(keys, images):
        (work / "files" / f"{key}.jpg").write_bytes(data)


def timed(label: str, fn: Callable[[], object], count: int) -> float:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:7.2f} s  {count / seconds:8.1f} img/s  load {load:.2f}")
    return seconds


def tarwriter_copy(images: list[bytes], target: Path) -> None:
    import webdataset as wds

    target.mkdir()
    with wds.ShardWriter(str(target / "%06d.tar"), maxsize=500_000_000, verbose=0) as sink:
        for index, data in enumerate(images):
            sink.write({"__key__": f"k{index:09d}", "jpg": data, "txt": "a bench image",
                        "json": json.dumps({"key": index}).encode()})


def one_round(work: Path, images: list[bytes], round_index: int) -> dict[str, float]:
    count, tag = len(images), f"r{round_index}"
    seconds = {
        "ingest_folder": timed("ingest folder (files, baseline)", lambda: ingest_folder(
            FolderIngestConfig(root=str(work / "files")), work / f"{tag}-folder"), count),
        "import_i2d": timed("import img2dataset parquet", lambda: import_dataset(
            ImportConfig(source=str(work / "i2d")), work / f"{tag}-i2d"), count),
        "import_wds": timed("import webdataset tars", lambda: import_dataset(
            ImportConfig(source=str(work / "wds")), work / f"{tag}-wds"), count),
        "tarwriter": timed("webdataset TarWriter copy (baseline)", lambda: tarwriter_copy(
            images, work / f"{tag}-tarwriter"), count),
        "export_wds": timed("export --format webdataset", lambda: export_manifest(
            work / f"{tag}-i2d", work / f"{tag}-out-wds", ExportConfig()), count),
        "export_kohya": timed("export --format kohya", lambda: export_manifest(
            work / f"{tag}-i2d", work / f"{tag}-out-kohya", ExportConfig(format="kohya")), count),
    }
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kcli-bench-interop-"))
    os.environ.setdefault("KCLI_HOME", str(work / "home"))
    try:
        images = make_jpegs(args.images)
        write_sources(work, images)
        print(f"{args.images} JPEGs 512x384, {sum(map(len, images)) / 2**20:.1f} MB; {os.cpu_count()} CPUs; "
              f"load at start {os.getloadavg()[0]:.2f}")
        rounds = [one_round(work, images, r) for r in range(args.repeat)]
        best = {name: min(r[name] for r in rounds) for name in rounds[0]}
        folder = best["ingest_folder"]
        print(f"best of {args.repeat}: import img2dataset / ingest folder time {best['import_i2d'] / folder:.2f}x;"
              f" import webdataset / ingest folder {best['import_wds'] / folder:.2f}x;"
              f" export webdataset / TarWriter copy {best['export_wds'] / best['tarwriter']:.2f}x;"
              f" load at end {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
