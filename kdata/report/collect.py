"""Gather what the report shows from one streaming pass over a manifest.

Every row feeds the score histograms; up to ``limit`` rows become grid items (all of them when the
manifest is small, else a deterministic sample chosen by a hash of the key, so re-running gives the
same page). Image bytes are read only for the rows that get a thumbnail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from kdata.blobs import BlobDir, read_image_bytes
from kdata.errors import ManifestError, PathOutsideManifestError
from kdata.manifest import Manifest, iter_shard_batches
from kdata.progress import ProgressCallback, ProgressEvent, notify
from kdata.publish.summary import numeric_columns
from kdata.runner.stats import reason_class
from kdata.schema import Status

FACETS = ("status", "reason", "source", "category")
TEXT_COLUMNS = (("caption_ko", "ko"), ("caption_en", "en"))
FALLBACK_TEXT = (("alt_text", "alt"), ("title", "title"))  # shown when a row has no Korean caption
GEOMETRY = {"width", "height", "original_width", "original_height"}
NONE = "(none)"
DUPLICATE_REASON = "duplicate_of="


@dataclass
class Collected:
    items: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[dict[str, Any], bytes | None]] = field(default_factory=list)  # new items, their bytes
    scores: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)  # column -> status -> values
    facets: list[str] = field(default_factory=list)
    sort_columns: list[str] = field(default_factory=list)


def score_columns(schema: pa.Schema) -> list[str]:
    """Columns worth a histogram: float columns and any ``*_score``, not image geometry."""
    numeric = numeric_columns(schema)
    return [c for c in numeric if c not in GEOMETRY and (pa.types.is_floating(schema.field(c).type) or "score" in c)]


def collect(
    manifest: Manifest, limit: int, on_images: Callable[[Collected], None], progress: ProgressCallback | None
) -> Collected:
    """Stream the manifest; ``on_images`` is called per batch so thumbnails never pile up in memory."""
    schema = manifest.schema()
    names = set(schema.names)
    out = Collected(
        facets=[f for f in FACETS if f in names],
        sort_columns=numeric_columns(schema),
        scores={c: {} for c in score_columns(schema)},
    )
    keep_fraction = 1.0 if manifest.num_rows <= limit else limit / manifest.num_rows
    rows_done = 0
    shards = manifest.shard_paths
    for index, shard in enumerate(shards):
        for batch in iter_shard_batches(shard, batch_size=256):
            _add_batch(out, pa.Table.from_batches([batch]), limit, keep_fraction, manifest.blob_dirs)
            on_images(out)
            out.pending.clear()
            rows_done += batch.num_rows
        notify(progress, ProgressEvent("report", index + 1, len(shards), "shards", rows_done, detail=shard.name))
    return out


def _add_batch(out: Collected, batch: pa.Table, limit: int, keep_fraction: float, blob_dirs: list[BlobDir]) -> None:
    _add_scores(out, batch)
    for row in batch.to_pylist():
        if len(out.items) < limit and _selected(row["key"], keep_fraction):
            item = _item(row, out)
            out.items.append(item)
            out.pending.append((item, _image(row, item, blob_dirs)))


def _selected(key: str, fraction: float) -> bool:
    if fraction >= 1.0:
        return True
    digest = hashlib.sha1(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _item(row: dict[str, Any], out: Collected) -> dict[str, Any]:
    reason = row.get("reason")
    return {
        "key": row["key"],
        "status": row.get("status"),
        "reason_full": reason or "",
        "reason": reason_class(reason) if reason else NONE,
        "source": row.get("source") or NONE,
        "category": row.get("category") or NONE,
        "texts": _texts(row),
        "numbers": {c: _number(row.get(c)) for c in out.sort_columns if row.get(c) is not None},
        "duplicate_of": _duplicate_of(row, reason),
        "thumb": None,
        "large": None,
    }


def _duplicate_of(row: dict[str, Any], reason: str | None) -> str | None:
    """The representative's key: the filter's ``duplicate_of`` column, else its ``duplicate_of=KEY`` reason."""
    if row.get("duplicate_of"):
        return str(row["duplicate_of"])
    if reason and reason.startswith(DUPLICATE_REASON):
        return reason[len(DUPLICATE_REASON):]
    return None


def _texts(row: dict[str, Any]) -> list[list[str]]:
    texts = [[label, row[c]] for c, label in TEXT_COLUMNS if row.get(c)]
    if not row.get("caption_ko"):
        texts += [[label, row[c]] for c, label in FALLBACK_TEXT if row.get(c)][:1]
    return texts


def _number(value: Any) -> float | int | None:
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 4)
    return value


def _image(row: dict[str, Any], item: dict[str, Any], blob_dirs: list[BlobDir]) -> bytes | None:
    """The row's bytes for its thumbnail; a row whose path leads outside the manifest shows as failed."""
    try:
        return read_image_bytes(row, blob_dirs)
    except PathOutsideManifestError as exc:
        item.update(status=Status.FAILED, reason=exc.reason, reason_full=exc.reason)
        return None
    except (ManifestError, OSError):
        return None


def _add_scores(out: Collected, batch: pa.Table) -> None:
    if not batch.num_rows:
        return
    statuses = np.array(batch.column("status").to_pylist(), dtype=object)
    for column, by_status in out.scores.items():
        values = batch.column(column).to_numpy(zero_copy_only=False).astype(np.float64)
        for status in set(statuses.tolist()):
            chosen = values[(statuses == status) & ~np.isnan(values)]
            if chosen.size:
                by_status.setdefault(str(status), []).append(chosen)
