"""Export and report speed on generated JPEGs, and what stripping EXIF only where it exists saves.

Run: ``.venv/bin/python bench/publish_export.py [--images 1000]``. Half the images carry EXIF with a GPS
block. Measured side by side in one run, on the same inline manifest:

- ``export --keep-exif``: the copy baseline (bytes go out untouched);
- ``export`` (default): EXIF cut out losslessly where present, other images untouched;
- re-encoding every image (what "strip by decoding and saving again" would cost, Pillow, quality 95);
- ``report``: thumbnails, histograms and the page.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from kdata.manifest import Lineage, Manifest, write_manifest
from kdata.publish import PublishConfig, export_dataset
from kdata.report import write_report
from kdata.schema import IMAGE, Status, conform_table


def make_jpeg(rng: np.random.Generator, with_gps: bool) -> bytes:
    base = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize((512, 384), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    exif = Image.Exif()
    if with_gps:
        exif[0x010F] = "BenchCam"
        exif.get_ifd(0x8825).update({1: "N", 2: (37.0, 33.0, 59.0), 3: "E", 4: (126.0, 58.0, 41.0)})
    image.save(out, format="JPEG", quality=90, exif=exif.tobytes() if with_gps else b"")
    return out.getvalue()


def make_manifest(root: Path, count: int) -> Manifest:
    rng = np.random.default_rng(0)
    rows = [
        {"key": f"img-{i:05d}", "image_bytes": make_jpeg(rng, i % 2 == 0), "status": Status.OK, "reason": None,
         "source": "bench", "caption_ko": "벤치마크 이미지", "clip_score": float(rng.random())}
        for i in range(count)
    ]
    table = conform_table(pa.Table.from_pylist(rows), IMAGE)
    size = -(-count // 4)
    return write_manifest(root / "manifest", [table.slice(i * size, size) for i in range(4)], IMAGE,
                          Lineage(stage="bench", config={}))


def timed(label: str, fn, count: int) -> float:  # noqa: ANN001
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    print(f"{label:<42} {seconds:7.2f} s  {count / seconds:8.1f} img/s")
    return seconds


def reencode_all(manifest: Manifest) -> None:
    for row in manifest.read_table(["image_bytes"]).column("image_bytes").to_pylist():
        with Image.open(io.BytesIO(row)) as img:
            img.convert("RGB").save(io.BytesIO(), format="JPEG", quality=95)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    count = parser.parse_args().images
    work = Path(tempfile.mkdtemp(prefix="kcli-bench-publish-"))
    try:
        manifest = make_manifest(work, count)
        warm = make_manifest(work / "warm", 8)  # first calls import datasets and matplotlib: keep that out
        export_dataset(warm.path, work / "warm-export", PublishConfig())
        write_report(warm.path, work / "warm-report")
        mb = sum(p.stat().st_size for p in manifest.shard_paths) / 2**20
        print(f"{count} JPEGs 512x384, half with GPS EXIF, {mb:.1f} MB manifest; 2-core CPU")
        keep = timed("export --keep-exif (copy baseline)", lambda: export_dataset(
            manifest.path, work / "keep", PublishConfig(keep_exif=True, sample_grid=0)), count)
        strip = timed("export (EXIF stripped where present)", lambda: export_dataset(
            manifest.path, work / "strip", PublishConfig(sample_grid=0)), count)
        naive = timed("re-encode every image (the alternative)", lambda: reencode_all(manifest), count)
        report = timed("report (thumbnails, histograms, page)", lambda: write_report(
            manifest.path, work / "report"), count)
        print(f"strip / keep-exif time: {strip / keep:.2f}x; re-encode-all / strip: {naive / strip:.2f}x; "
              f"report / strip: {report / strip:.2f}x")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
