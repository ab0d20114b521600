"""What an index is built from, read as a stream of :class:`IndexRecord` batches in a fixed order.

- a prompt corpus file (``.parquet``, ``.csv``, ``.jsonl``/``.json``) with a text column, such as
  DiffusionDB's metadata Parquet (``prompt``, keyed by ``image_name``);
- a parallel corpus manifest: its ``ko`` and ``en`` sides, one record each (key ``KEY:ko`` / ``KEY:en``);
- an image manifest: its images (``ok`` rows whose bytes can be read), for an image index.

The order never changes between runs, so the ``i``-th chunk of a resumed build holds the same rows.
Rows that cannot be indexed (no text, no readable image) are counted under ``skipped/<reason>``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from kdata.errors import ConfigError, ManifestError

TEXT_COLUMNS = ("prompt", "text", "caption_ko", "ko", "caption_en", "en", "caption")
KEY_COLUMNS = ("key", "id", "image_name", "prompt_id")
FILE_SUFFIXES = (".parquet", ".csv", ".jsonl", ".json")


@dataclass
class IndexRecord:
    key: str
    text: str
    source: str
    image: bytes | None = None  # an image record's bytes (image indexes)
    sha256: str | None = None  # the image's digest: the embedding cache key


@dataclass
class Source:
    kind: str  # prompts | parallel | image
    path: Path
    text_column: str
    skipped: Counter

    def batches(self, size: int) -> Iterator[list[IndexRecord]]:
        readers = {"prompts": _file_records, "parallel": _parallel_records, "image": _image_records}
        batch: list[IndexRecord] = []
        for record in readers[self.kind](self):
            batch.append(record)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


def open_source(path: str | Path, text_column: str | None = None) -> Source:
    """Recognise ``path`` as a corpus file or a manifest folder; a wrong column names the valid ones."""
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        from kdata.manifest import open_manifest

        manifest = open_manifest(path)
        kind = {"parallel": "parallel", "image": "image"}.get(manifest.kind.name)
        if kind is None:
            raise ManifestError(f"{path} is a {manifest.kind.name} manifest; index a parallel or image manifest")
        return Source(kind, path, text_column or "", Counter())
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise ConfigError(f"{path}: not a manifest folder nor a {', '.join(FILE_SUFFIXES)} file")
    if not path.exists():
        raise ConfigError(f"{path} does not exist")
    names = _read_table(path).column_names
    column = text_column or next((c for c in TEXT_COLUMNS if c in names), None)
    if column not in names:
        raise ConfigError(f"{path} has no text column {text_column or ''!r}; pass --text-column, one of: "
                          + ", ".join(names))
    return Source("prompts", path, column, Counter())


def _read_table(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if suffix == ".csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path)
    with path.open(encoding="utf-8") as handle:  # JSON lines; a .json file holding one list works too
        text = handle.read()
    rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x]
    return pa.Table.from_pylist(rows)


def _file_records(source: Source) -> Iterator[IndexRecord]:
    table = _read_table(source.path)
    key_column = next((c for c in KEY_COLUMNS if c in table.column_names), None)
    keys = table.column(key_column).to_pylist() if key_column else range(table.num_rows)
    for row, (key, text) in enumerate(zip(keys, table.column(source.text_column).to_pylist())):
        if not isinstance(text, str) or not text.strip():
            source.skipped["skipped/no_text"] += 1
            continue
        yield IndexRecord(str(key if key is not None else row), text, source.path.name)


def _parallel_records(source: Source) -> Iterator[IndexRecord]:
    from kdata.manifest import open_manifest

    for batch in open_manifest(source.path).iter_batches(["key", "ko", "en", "source"], only_ok=True):
        for row in batch.to_pylist():
            for lang in ("ko", "en"):
                if row[lang]:
                    yield IndexRecord(f"{row['key']}:{lang}", row[lang], row["source"] or lang)
                else:
                    source.skipped[f"skipped/no_{lang}"] += 1


def _image_records(source: Source) -> Iterator[IndexRecord]:
    from kdata.blobs import read_image_bytes
    from kdata.manifest import open_manifest

    manifest = open_manifest(source.path)
    for batch in manifest.iter_batches(only_ok=True, batch_size=256):
        for row in batch.to_pylist():
            try:
                data = read_image_bytes(row, manifest.blob_dirs)
            except (ManifestError, OSError):
                source.skipped["skipped/unreadable_image"] += 1
                continue
            text = row.get("caption_ko") or row.get("caption_en") or row.get("alt_text") or ""
            yield IndexRecord(row["key"], text, row.get("source") or "", image=data, sha256=row.get("sha256"))
