"""Caption and corpus throughput, measured side by side in one run (tiny presets, CPU, fp32).

    python bench/caption_corpus.py

1. The image-to-text backend on the same images, batch 16 vs one image per generate call.
2. The caption stage on the bundled samples, ``collect = "first"`` vs ``"all"``: how much the cheap
   metadata backends (template, alt text) spare the models when they come first in the chain.
3. ``corpus build`` on the bundled sample corpus repeated to 30,100 rows (duplicates included).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdata.bundled import bundled_path  # noqa: E402
from kdata.caption.backends.base import RowItem  # noqa: E402
from kdata.caption.backends.image_models import ImageToTextBackend, ImageToTextConfig  # noqa: E402
from kdata.caption.config import caption_config_from_dict, load_caption_config  # noqa: E402
from kdata.caption.stage import run_caption  # noqa: E402
from kdata.corpus.build import run_corpus_build  # noqa: E402
from kdata.corpus.sample import SAMPLE_CORPUS  # noqa: E402
from kdata.runner import RunOptions
from kdata.samples import sample_rows, write_sample_manifest  # noqa: E402

IMAGES = 64


def timed(fn, repeat: int = 1) -> float:  # noqa: ANN001 - any callable
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def bench_batching() -> None:
    rows = (sample_rows() * 3)[:IMAGES]
    backend = ImageToTextBackend(ImageToTextConfig(model="tiny-captioner", max_new_tokens=12), "en", "en[0]")
    backend.load()
    items = [RowItem(row) for row in rows]
    for item in items:
        item.image()  # decode once, outside the timing
    backend.config.batch_size = 1
    backend.run(items[:2])  # warm-up
    single = timed(lambda: backend.run(items), repeat=2)
    backend.config.batch_size = 16
    batched = timed(lambda: backend.run(items), repeat=2)
    print(f"image-to-text, {IMAGES} images: batch 1 {IMAGES / single:.1f} img/s, batch 16 {IMAGES / batched:.1f} img/s"
          f" -> batching x{single / batched:.2f}")


def bench_collect(work: Path) -> None:
    manifest = write_sample_manifest(work / "samples")
    demo = load_caption_config(bundled_path("caption/demo.toml"))
    tables = {"en": demo.en, "ko": demo.ko}
    first = caption_config_from_dict({**tables, "collect": "first"})
    every = caption_config_from_dict({**tables, "collect": "all"})
    run_caption(manifest.path, first, work / "warm")  # loads models once in this process
    t_first = timed(lambda: run_caption(manifest.path, first, work / "first", options=RunOptions(overwrite=True)))
    t_all = timed(lambda: run_caption(manifest.path, every, work / "all", options=RunOptions(overwrite=True)))
    print(f"caption stage, {manifest.num_rows} sample rows, demo config: collect=first {t_first:.2f} s, "
          f"collect=all {t_all:.2f} s -> metadata-first spares x{t_all / t_first:.1f}")


def bench_corpus(work: Path) -> None:
    lines = SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines()
    big = work / "big.jsonl"
    big.write_text("\n".join(lines * 100) + "\n", encoding="utf-8")
    rows = len(lines) * 100
    seconds = timed(lambda: run_corpus_build([big], work / "corpus", options=RunOptions(overwrite=True)))
    stats = json.loads((work / "corpus" / "stats.json").read_text())
    print(f"corpus build, {rows} rows: {seconds:.2f} s ({rows / seconds:,.0f} rows/s); "
          f"kept {stats['kept']}, dropped/duplicate {stats.get('dropped/duplicate', 0)}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="kcli-bench-caption-"))
    try:
        bench_batching()
        bench_collect(work)
        bench_corpus(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
