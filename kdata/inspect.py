"""Summarise a manifest without loading it: schema, funnel, per-column statistics, samples, lineage.

Shards are read batch by batch (a whole shard at a time up to ``BATCH_ROWS`` rows) and every statistic is an
Arrow compute kernel over the batch, so memory stays flat however many rows there are and the Python work is
per batch, not per row. Which statistics a string column gets depends on what it holds (see
:mod:`kdata.inspect_columns`). Plain Parquet files and folders (Hub exports included) are summarised the
same way, with what a kcli stage would be missing in place of the lineage.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kdata.blobs import RefusedBlobDir
from kdata.errors import ManifestError
from kdata.inspect_columns import IdentifierSummary, Summary, TextSummary, is_string, numpy_view, summary_for
from kdata.manifest import DESCRIPTOR, Manifest, open_manifest
from kdata.parquet_input import missing_for_stages, open_parquet_input
from kdata.schema import Status

SAMPLE_ROWS = 3
BATCH_ROWS = 65536
FUNNEL_COLUMNS = ("status", "reason")
ROLE_SAMPLE_ROWS = 2048  # first values of each string column that decide its role (prose, key, category)


def inspect_manifest(path: str | os.PathLike[str] | Manifest, samples: int = SAMPLE_ROWS,
                     head: int = 0) -> dict[str, Any]:
    """Return the whole summary as plain data (the CLI renders it as tables or ``--json``).

    ``path`` is a kcli manifest (a folder with ``manifest.json``, or an opened :class:`Manifest`), or a
    Parquet file or folder of them; ``head`` adds the first rows, ``samples`` the first rows as records."""
    if isinstance(path, Manifest) or (Path(path) / DESCRIPTOR).is_file():
        # The status values are checked from the funnel below, which reads that column anyway.
        manifest = open_manifest(path, check_rows=False)
        files, header = manifest.shard_paths, _manifest_header(manifest)
        schema = manifest.schema()
    else:
        manifest = None
        plain = open_parquet_input(path)
        files, schema = list(plain.files), plain.schema()
        header = _parquet_header(plain.path, len(files), plain.num_rows, schema)
    funnel, columns = summarise(files, schema)
    if manifest is not None:
        check_funnel_statuses(manifest, funnel)
    first = _first_rows(files, schema, max(samples, head))
    return {
        **header,
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "funnel": [{"status": s, "reason": r, "rows": n}
                   for (s, r), n in sorted(funnel.items(), key=lambda item: (item[0][0] or "", item[0][1]))],
        # On the threads too: the numeric columns' medians (a partition of every value) are most of this.
        "columns": dict(zip(columns, _ordered_map(_as_dict, list(columns.values()), _threads()), strict=True)),
        "samples": first[:samples],
        "head": first[:head],
    }


def _manifest_header(manifest: Manifest) -> dict[str, Any]:
    return {
        "path": str(manifest.path),
        "kind": manifest.descriptor["kind"],
        "schema_version": manifest.descriptor["schema_version"],
        "fingerprint": manifest.fingerprint,
        "rows": manifest.num_rows,
        "shards": len(manifest.shard_paths),
        "lineage": manifest.lineage_chain,
        "stats": manifest.descriptor.get("stats", {}),
        # Blob stores outside the manifest that kcli did not create are never read (see kdata.blobs).
        "blob_dirs": [{"path": str(d), "readable": not isinstance(d, RefusedBlobDir)} for d in manifest.blob_dirs],
    }


def _parquet_header(path: Path, files: int, rows: int, schema: pa.Schema) -> dict[str, Any]:
    return {"path": str(path), "kind": "parquet", "schema_version": None, "fingerprint": None, "rows": rows,
            "shards": files, "lineage": [], "stats": {}, "blob_dirs": [],
            "missing_for_stages": missing_for_stages(schema)}


def summarise(files: Sequence[Path], schema: pa.Schema) -> tuple[Counter[tuple[str, str]], dict[str, Summary]]:
    """The status/reason funnel and one summary per leaf column (struct fields as ``column.field``).

    Shards are read and measured on a few threads (Arrow's readers and kernels release the GIL), and the
    measurements are folded in shard order, so the result is the same as a single-threaded pass."""
    summaries = _plan(files, schema)
    funnel: Counter[tuple[str, str]] = Counter()
    reader = _ShardReader(schema, summaries)
    for counts, batches in _ordered_map(reader.measure, files, _threads()):
        for name, (count, nulls) in counts.items():
            summaries[name].add_counts(count, nulls)  # type: ignore[union-attr] - identifier summaries only
        for batch_funnel, measured in batches:
            funnel.update(batch_funnel)
            for name, value in measured.items():
                summaries[name].fold(value)  # type: ignore[arg-type] - each summary folds what it measured
    return funnel, summaries


Measured = tuple[dict[str, tuple[int, int]], list[tuple[Counter[tuple[str, str]], dict[str, Any]]]]


class _ShardReader:
    """Measures one shard: identifier counts from its footer, then the other columns' batches (categories,
    status and reason read dictionary-encoded, so they are counted without building a string per row)."""

    def __init__(self, schema: pa.Schema, summaries: dict[str, Summary]) -> None:
        self.schema, self.summaries = schema, summaries
        categorical = [n for n, s in summaries.items() if isinstance(s, TextSummary) and s.role == "categorical"
                       and "." not in n]
        self.dictionary = list(dict.fromkeys([*categorical, *(n for n in FUNNEL_COLUMNS if n in schema.names)]))
        self.identifiers = [n for n, s in summaries.items() if isinstance(s, IdentifierSummary)]

    def measure(self, file: Path) -> Measured:
        # One thread per shard already: Arrow's own column threads would only contend with the other shards.
        parquet = pq.ParquetFile(file, read_dictionary=self.dictionary)
        counts = _footer_counts(parquet.metadata, self.identifiers)
        wanted = [n for n in self.summaries if n not in counts]
        columns = list(dict.fromkeys(n.split(".")[0] for n in [*wanted, *FUNNEL_COLUMNS]
                                     if n in self.summaries or n in self.schema.names))
        batches = []
        if columns:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False):
                table = pa.Table.from_batches([batch]).flatten()
                batches.append((_funnel_counts(table),
                                {n: self.summaries[n].measure(table.column(n)) for n in wanted}))
        return counts, batches


def _as_dict(summary: Summary) -> dict[str, Any]:
    return summary.to_dict()


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _ordered_map(function: Any, items: Sequence[Any], threads: int) -> Iterator[Any]:
    """``map`` on ``threads`` threads, results in order, with at most ``2 * threads`` shards in flight (memory
    stays bounded however many shards there are)."""
    if threads <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque[Future[Any]] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _footer_counts(metadata: pq.FileMetaData, identifiers: list[str]) -> dict[str, tuple[int, int]]:
    """(set, null) counts of identifier columns whose footer statistics have null counts in every row group."""
    paths = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    counts = {}
    for name in identifiers:
        if name not in paths:
            continue
        chunks = [metadata.row_group(g).column(paths[name]) for g in range(metadata.num_row_groups)]
        if all(c.statistics is not None and c.statistics.has_null_count for c in chunks):
            nulls = sum(c.statistics.null_count for c in chunks)
            counts[name] = (metadata.num_rows - nulls, nulls)
    return counts


def _batches(files: Sequence[Path], size: int, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """Flattened tables (struct fields become ``column.field``) of up to ``size`` rows, file by file."""
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=size, columns=columns):
            yield pa.Table.from_batches([batch]).flatten()


def _leaves(fields: Iterable[pa.Field], prefix: str = "") -> Iterator[pa.Field]:
    """Leaf fields, struct fields named ``column.field`` as ``Table.flatten`` names them. (Not through
    ``Schema.empty_table``, which imports pandas: about 0.2 s of start-up, see inspect_columns.numpy_view.)"""
    for f in fields:
        name = prefix + f.name
        if pa.types.is_struct(f.type):
            yield from _leaves((f.type.field(i) for i in range(f.type.num_fields)), name + ".")
        else:
            yield f.with_name(name)


def _plan(files: Sequence[Path], schema: pa.Schema) -> dict[str, Summary]:
    """A summary per leaf column; string columns get theirs from their first values."""
    leaves = list(_leaves(schema))
    strings = [f.name.split(".")[0] for f in leaves if is_string(f.type)]
    first = next(_batches(files[:1], ROLE_SAMPLE_ROWS, sorted(set(strings))), None) if files and strings else None
    plan = {}
    for field in leaves:
        sample = None
        if first is not None and is_string(field.type) and field.name in first.column_names:
            sample = first.column(field.name).drop_null().to_pylist()
        if (summary := summary_for(field.type, sample)) is not None:
            plan[field.name] = summary
    return plan


def check_funnel_statuses(manifest: Manifest, funnel: Counter[tuple[str, str]]) -> None:
    """Refuse a kcli manifest whose ``status`` holds a null or a value outside :class:`Status`, as every other
    command does when it opens one (one line, exit code 2)."""
    unknown = sorted((status for status, _ in funnel if status not in Status.ALL), key=lambda s: (s is not None, s))
    if unknown:
        shown = "a null" if unknown[0] is None else repr(unknown[0])[:60]
        raise ManifestError(f"{manifest.path}: column 'status' holds {shown}; valid values: {', '.join(Status.ALL)}")


def _funnel_counts(batch: pa.Table) -> Counter[tuple[str, str]]:
    """(status, reason) pair counts of one batch: one bincount over the two columns' dictionary codes (they
    are read dictionary-encoded), not a hash aggregation over strings."""
    funnel: Counter[tuple[str, str]] = Counter()
    if "status" not in batch.column_names:
        return funnel
    reasons = batch.column("reason") if "reason" in batch.column_names else pa.nulls(batch.num_rows, pa.string())
    status_values, status_codes = _codes(batch.column("status"))
    reason_values, reason_codes = _codes(reasons)
    width = len(reason_values) + 1  # the last code of each is null
    counts = np.bincount(status_codes * width + reason_codes, minlength=(len(status_values) + 1) * width)
    for code in np.flatnonzero(counts):
        status, reason = divmod(int(code), width)
        key = (_value(status_values, status), _value(reason_values, reason) or "")
        funnel[key] += int(counts[code])
    return funnel


def _codes(column: pa.ChunkedArray) -> tuple[list[str | None], np.ndarray]:
    """A column's distinct values and each row's index into them (len(values) for a null)."""
    array = column.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    values = array.dictionary.to_pylist()
    indices = array.indices
    if not indices.null_count:
        return values, numpy_view(indices).astype(np.int64)
    valid = numpy_view(indices.is_valid())
    # A null's index slot holds anything: read the buffer with nulls treated as set, then overwrite them.
    codes = numpy_view(pa.Array.from_buffers(indices.type, len(indices), [None, indices.buffers()[1]],
                                             offset=indices.offset)).astype(np.int64)
    codes[valid == 0] = len(values)
    return values, codes


def _value(values: list[str | None], code: int) -> str | None:
    return values[code] if code < len(values) else None


def _first_rows(files: Sequence[Path], schema: pa.Schema, count: int) -> list[dict[str, Any]]:
    """The first ``count`` rows without their binary columns (images stay on disk)."""
    if count <= 0 or not files:
        return []
    columns = [f.name for f in schema if not _holds_binary(f.type)]
    rows: list[dict[str, Any]] = []
    for batch in _batches(files, count, columns):
        rows += batch.slice(0, count - len(rows)).to_pylist()
        if len(rows) >= count:
            break
    return rows


def _holds_binary(data_type: pa.DataType) -> bool:
    if pa.types.is_struct(data_type):
        return any(_holds_binary(data_type.field(i).type) for i in range(data_type.num_fields))
    return pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type)
