"""Manifests built in code from rows, for tests that need an input manifest of their own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from kdata.manifest import Lineage, Manifest, write_manifest
from kdata.schema import IMAGE, conform_table


def write_rows(path: Path, rows: Sequence[dict[str, Any]], shards: int = 1) -> Manifest:
    """An image manifest at ``path`` holding ``rows`` in order, split into ``shards`` shards of equal size."""
    table = conform_table(pa.Table.from_pylist(list(rows)), IMAGE)
    size = -(-table.num_rows // shards)
    tables = [table.slice(i * size, size) for i in range(shards)]
    return write_manifest(path, tables, IMAGE, Lineage(stage="unit", config={}))
