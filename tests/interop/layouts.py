"""Datasets in other tools' exact on-disk layouts, built in code for the interop tests.

img2dataset's layouts follow its writer (rom1504/img2dataset ``img2dataset/writer.py`` and
``downloader.py``): shard names ``{shard_id:05d}`` with ``.parquet`` / ``.tar`` and ``_stats.json``,
sample keys ``{shard_id:05d}{index:04d}`` (9 digits at the default 10,000 samples a shard), the metadata
columns of its downloader (the input columns, then ``key``, ``status``, ``error_message``, ``width``,
``height``, ``original_width``, ``original_height``, ``exif``, ``sha256``), ``jpg`` appended by the Parquet
writer, and its tars written by webdataset's own ``TarWriter``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.ingest.images import jpeg

CAPTIONS = ["a cat on a red sofa", "한복을 입은 아이", "1234", "a quiet harbour at dawn"]


def samples(count: int = 4) -> list[dict[str, Any]]:
    """Rows as img2dataset's downloader describes them; the third one failed to download."""
    rows = []
    for index in range(count):
        failed = index == 2
        data = None if failed else jpeg(64 + 8 * index, 48, seed=index)
        rows.append({
            "url": f"http://127.0.0.1:1/{index}.jpg", "caption": CAPTIONS[index % len(CAPTIONS)],
            "key": f"00000{index:04d}", "status": "failed_to_download" if failed else "success",
            "error_message": "HTTP Error 404: Not Found" if failed else None,
            "width": None if failed else 64 + 8 * index, "height": None if failed else 48,
            "original_width": None if failed else 64 + 8 * index, "original_height": None if failed else 48,
            "exif": None, "sha256": None, "jpg": data,
        })
    return rows


META_SCHEMA = pa.schema([
    pa.field("url", pa.string()), pa.field("caption", pa.string()), pa.field("key", pa.string()),
    pa.field("status", pa.string()), pa.field("error_message", pa.string()), pa.field("width", pa.int64()),
    pa.field("height", pa.int64()), pa.field("original_width", pa.int64()), pa.field("original_height", pa.int64()),
    pa.field("exif", pa.string()), pa.field("sha256", pa.string()),
])


def _stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sum(r["status"] == "success" for r in rows)
    return {"count": len(rows), "successes": ok, "failed_to_download": len(rows) - ok, "failed_to_resize": 0,
            "duration": 0.5, "start_time": 1700000000.0, "end_time": 1700000000.5,
            "status_dict": {"success": ok, "HTTP Error 404: Not Found": len(rows) - ok}}


def img2dataset_parquet(root: Path, rows: list[dict[str, Any]]) -> Path:
    """``output_format="parquet"``: ``00000.parquet`` with the ``jpg`` column, and ``00000_stats.json``."""
    root.mkdir(parents=True)
    schema = META_SCHEMA.append(pa.field("jpg", pa.binary()))
    pq.write_table(pa.Table.from_pylist(rows, schema), root / "00000.parquet")
    (root / "00000_stats.json").write_text(json.dumps(_stats(rows), indent=4))
    return root


def img2dataset_webdataset(root: Path, rows: list[dict[str, Any]]) -> Path:
    """``output_format="webdataset"``: ``00000.tar`` (successes only), ``00000.parquet`` (every row's metadata)."""
    import webdataset as wds

    root.mkdir(parents=True)
    with open(root / "00000.tar", "wb") as handle:
        writer = wds.TarWriter(handle)
        for row in rows:
            if row["jpg"] is None:
                continue
            meta = {k: v for k, v in row.items() if k != "jpg"}
            writer.write({"__key__": row["key"], "jpg": row["jpg"], "txt": row["caption"],
                          "json": json.dumps(meta, indent=4)})
        writer.close()
    metas = [{k: v for k, v in row.items() if k != "jpg"} for row in rows]
    pq.write_table(pa.Table.from_pylist(metas, META_SCHEMA), root / "00000.parquet")
    (root / "00000_stats.json").write_text(json.dumps(_stats(rows), indent=4))
    return root


def webdataset_shards(root: Path, count: int = 5, per_shard: int = 3) -> dict[str, dict[str, Any]]:
    """Generic webdataset shards written by ``webdataset.ShardWriter``; returns ``{key: sample}``."""
    import webdataset as wds

    root.mkdir(parents=True)
    written: dict[str, dict[str, Any]] = {}
    with wds.ShardWriter(str(root / "train-%06d.tar"), maxcount=per_shard, verbose=0) as sink:
        for index in range(count):
            sample = {"__key__": f"sample{index:04d}", "jpg": jpeg(40, 40 + index, seed=10 + index),
                      "txt": CAPTIONS[index % len(CAPTIONS)], "json": {"index": index, "license": "cc-by"}}
            sink.write(sample)
            written[sample["__key__"]] = sample
    return written


def kohya_folder(root: Path) -> dict[str, tuple[bytes, str | None]]:
    """``10_hanbok/`` with captions, ``3_harbour/`` with one image lacking its caption.

    Returns ``{relative path: (bytes, caption)}``."""
    files: dict[str, tuple[bytes, str | None]] = {}
    for folder, names in (("10_hanbok", ("a", "b")), ("3_harbour", ("c", "d"))):
        (root / folder).mkdir(parents=True)
        for index, name in enumerate(names):
            data = jpeg(56, 56, seed=20 + index + len(files))
            caption = None if name == "d" else f"{CAPTIONS[len(files) % 4]} {name}"
            (root / folder / f"{name}.jpg").write_bytes(data)
            if caption is not None:
                (root / folder / f"{name}.txt").write_text(caption, encoding="utf-8")
            files[f"{folder}/{name}.jpg"] = (data, caption)
    return files
