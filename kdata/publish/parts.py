"""Cut the stream of published rows into Parquet files of about ``shard_size_mb`` each, resumably.

Files are written as numbered parts in a staging folder; each finished part is recorded (rows, bytes,
how many ``ok`` manifest rows it consumed, its counters) in ``_progress.json``. A re-run with the same
settings skips the consumed rows and carries on with the next part, so an interrupted export never
redoes finished files and ends byte-identical to an uninterrupted one. Part boundaries are decided on
the input rows' byte sizes, so they do not depend on where a run was interrupted.

The Parquet writer is ``datasets``' own (the one ``push_to_hub`` uses): it stores the features in
the file's metadata, leaves image bytes uncompressed and uses content-defined chunking, so a re-upload
of a slightly changed dataset sends only the changed chunks to the Hub's Xet storage.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from kdata.atomic import write_json_atomic
from kdata.publish.config import ROW_GROUP_BYTES

if TYPE_CHECKING:
    import datasets
    from datasets.arrow_writer import ParquetWriter

PROGRESS = "_progress.json"
PARTS_DIR = "_parts"


@dataclass
class Part:
    file: str | None  # None for a stretch of rows that were all left out (unreadable bytes)
    rows: int
    num_bytes: int  # uncompressed Arrow bytes, as the card's ``dataset_size`` counts them
    consumed: int  # ``ok`` manifest rows consumed up to the end of this part (the resume position)
    counters: dict[str, int] = field(default_factory=dict)


class PartWriter:
    """Append converted tables; ``close_part`` seals the current Parquet file and records it."""

    def __init__(self, staging: Path, features: datasets.Features, record: dict[str, Any]) -> None:
        self.staging = staging
        self.features = features
        self.record = record
        self.parts = [Part(**p) for p in record.get("parts", [])]
        self._writer: ParquetWriter | None = None
        self._tmp: Path | None = None
        self.open_rows = 0
        self.open_bytes = 0  # input bytes taken into the open part (what the size limit counts)
        self._arrow_bytes = 0
        self._counters: Counter[str] = Counter()

    @property
    def consumed(self) -> int:
        return self.parts[-1].consumed if self.parts else 0

    @property
    def files(self) -> list[Part]:
        return [p for p in self.parts if p.file is not None]

    def add(self, table: pa.Table, counters: Counter[str], input_bytes: int) -> None:
        if table.num_rows:
            if self._writer is None:
                self._open(table)
            self._writer.write_table(table)
        self.open_rows += table.num_rows
        self.open_bytes += input_bytes
        self._arrow_bytes += table.nbytes
        self._counters.update(counters)

    def close_part(self, consumed: int) -> None:
        """Seal the open part at manifest position ``consumed`` and record it (rows or not)."""
        if consumed == self.consumed:
            return
        name = None
        if self._writer is not None:
            self._writer.finalize()
            name = self._part_name(len(self.files))
            with open(self._tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(self._tmp, self.staging / PARTS_DIR / name)
        self.parts.append(Part(name, self.open_rows, self._arrow_bytes, consumed, dict(self._counters)))
        write_json_atomic(self.staging / PROGRESS, {**self.record, "parts": [asdict(p) for p in self.parts]})
        self._writer = None
        self.open_rows = self.open_bytes = self._arrow_bytes = 0
        self._counters = Counter()

    def _open(self, first: pa.Table) -> None:
        from datasets.arrow_writer import ParquetWriter

        target = self.staging / PARTS_DIR / self._part_name(len(self.files))
        target.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = target.with_name(f".{target.name}.tmp")
        per_row = max(1, first.nbytes // first.num_rows)
        self._writer = ParquetWriter(
            features=self.features, path=str(self._tmp), writer_batch_size=max(1, ROW_GROUP_BYTES // per_row)
        )

    @staticmethod
    def _part_name(index: int) -> str:
        return f"part-{index:05d}.parquet"


def load_progress(staging: Path, record: dict[str, Any]) -> dict[str, Any]:
    """The saved progress when it belongs to the same export (manifest and settings), else a fresh one."""
    path = staging / PROGRESS
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if {k: v for k, v in saved.items() if k != "parts"} == record:
            return saved
    return {**record, "parts": []}
