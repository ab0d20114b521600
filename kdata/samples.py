"""The bundled sample images (synthetic, CC0) under ``kdata/bundled/samples/``, as an image manifest.

The demo and the tests start from these. Each image has a sidecar JSON; its top-level scalar fields
become columns (nested annotation objects are left to ``kcli ingest folder`` and its mapping files).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from kdata.bundled import bundled_name, bundled_path
from kdata.manifest import Lineage, Manifest, write_manifest
from kdata.schema import IMAGE, Status, conform_table

SAMPLE_IMAGES = bundled_path("samples/images")


def sample_rows(images_dir: Path = SAMPLE_IMAGES) -> list[dict[str, Any]]:
    rows = []
    for image in sorted(images_dir.glob("*.jpg")):
        data = image.read_bytes()
        sidecar = image.with_suffix(".json")
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
        row: dict[str, Any] = {k: v for k, v in meta.items() if isinstance(v, (str, int, float))}
        row.update(
            key=image.stem,
            url=image.resolve().as_uri(),
            image_bytes=data,
            sha256=hashlib.sha256(data).hexdigest(),
            status=Status.OK,
        )
        rows.append(row)
    return rows


def write_sample_manifest(out: Path, shards: int = 2) -> Manifest:
    rows = sample_rows()
    table = conform_table(pa.Table.from_pylist(rows), IMAGE)
    size = -(-table.num_rows // shards)
    tables = [table.slice(i * size, size) for i in range(shards)]
    lineage = Lineage(stage="samples", config={"images": bundled_name("samples/images")})
    return write_manifest(out, tables, IMAGE, lineage)
