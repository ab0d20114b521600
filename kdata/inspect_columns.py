"""Per-column summaries for ``kcli inspect``, computed with Arrow compute kernels over whole shards.

Each summary takes one column chunk at a time (``add``) and turns into plain data (``to_dict``). The
kind of summary is chosen per column from its type and, for strings, from a sample of its first values
(:func:`string_role`): text statistics (lengths, Hangul/Latin script) only for columns that hold prose,
value counts for low-cardinality columns, lengths only for keys, URLs, paths and hashes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kdata.textnorm import HANGUL_RE2

# Medians are exact while a column has at most EXACT_VALUES non-null values (its values are kept, 8 bytes
# each); beyond, a uniform bottom-k sample of that size is kept, compacted once per EXACT_VALUES new values.
EXACT_VALUES = 2_000_000
LATIN = r"[A-Za-z]"  # what the script split means by Latin (computed without a regex, see _add_script)
# A string column whose first values hold at most this many distinct ones, each repeated on average at
# least twice, is categorical (status, format, category, source): its values are counted.
CATEGORICAL_DISTINCT = 32
# Counting stops (and says so) past this many distinct values: a column that only looked categorical.
MAX_COUNTED_VALUES = 1000
# Share of sampled values from which a column is prose (captions, alt text, titles), not a category or an
# identifier (key, URL, path, hex digest): several words, or (for single words) Hangul or other non-ASCII.
PROSE_SHARE = 0.5
_WORDS = re.compile(r"\S\s+\S")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def string_role(sample: list[str]) -> str:
    """``prose``, ``categorical`` or ``identifier``, from a column's first non-null values.

    Several words make prose even when values repeat (template captions); then few distinct values make a
    category (status, format, category); then non-ASCII single words (Korean titles) make prose."""
    if not sample:
        return "prose"
    if _share(sample, _WORDS) >= PROSE_SHARE:
        return "prose"
    distinct = len(set(sample))
    if distinct <= CATEGORICAL_DISTINCT and distinct * 2 <= len(sample):
        return "categorical"
    return "prose" if _share(sample, _NON_ASCII) >= PROSE_SHARE else "identifier"


def _share(sample: list[str], pattern: re.Pattern[str]) -> float:
    return sum(1 for value in sample if pattern.search(value) and not _URL.match(value)) / len(sample)


@dataclass
class NumericSummary:
    count: int = 0
    nulls: int = 0
    min: float | None = None
    max: float | None = None
    compacted: bool = False
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    chunks: list[np.ndarray] = field(default_factory=list)
    pending: int = 0
    # Bottom-k sample once compacted: every value gets a uniform random key and the EXACT_VALUES smallest
    # keys are kept, a uniform sample without replacement in bounded memory.
    sample_keys: np.ndarray = field(default_factory=lambda: np.empty(0))

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        self.nulls += column.null_count
        if pa.types.is_boolean(column.type):
            column = column.cast(pa.uint8())
        values = column.drop_null()
        if len(values) == 0:
            return
        self.count += len(values)
        low, high = (v.as_py() for v in pc.min_max(values).values())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        self.chunks.append(np.asarray(values.to_numpy() if isinstance(values, pa.Array)
                                      else values.to_numpy(), dtype=np.float64))
        self.pending += len(values)
        if self.pending > EXACT_VALUES:
            self._compact()

    def _compact(self) -> None:
        values = np.concatenate(self.chunks)
        fresh = values.size - self.sample_keys.size
        keys = np.concatenate([self.sample_keys, self.rng.random(fresh)])
        keep = np.argpartition(keys, EXACT_VALUES)[:EXACT_VALUES]
        self.sample_keys, self.chunks, self.pending, self.compacted = keys[keep], [values[keep]], 0, True

    def median(self) -> float | None:
        if not self.chunks:
            return None
        return float(np.median(np.concatenate(self.chunks)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "numeric",
            "count": self.count,
            "nulls": self.nulls,
            "min": self.min,
            "median": self.median(),
            "max": self.max,
            "median_exact": not self.compacted,
        }


@dataclass
class IdentifierSummary:
    """Keys, URLs, paths and digests: how many are set. The counts come from the Parquet footer's column
    statistics when it has them (:meth:`add_counts`), so these columns, often the widest, are not decoded."""

    count: int = 0
    nulls: int = 0

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        self.add_counts(len(column) - column.null_count, column.null_count)

    def add_counts(self, count: int, nulls: int) -> None:
        self.count += count
        self.nulls += nulls

    def to_dict(self) -> dict[str, Any]:
        return {"type": "text", "role": "identifier", "count": self.count, "nulls": self.nulls}


@dataclass
class TextSummary:
    """Lengths and the Hangul/Latin script split for prose; value counts (and lengths from them) for
    categorical columns, which are read dictionary-encoded."""

    role: str = "prose"
    count: int = 0
    nulls: int = 0
    empty: int = 0
    length_sum: int = 0
    length_min: int | None = None
    length_max: int | None = None
    script: Counter[str] = field(default_factory=Counter)
    values: Counter[str] = field(default_factory=Counter)
    values_complete: bool = True

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        self.nulls += column.null_count
        values = column.drop_null()
        if len(values) == 0:
            return
        self.count += len(values)
        if self.role == "categorical":
            self._add_values(values)
            return
        lengths = pc.utf8_length(values)
        self._add_lengths(lengths, _count(pc.equal(lengths, 0)), pc.sum(lengths).as_py() or 0)
        self._add_script(values)

    def _add_lengths(self, lengths: pa.Array | pa.ChunkedArray, empty: int, total: int) -> None:
        self.empty += empty
        self.length_sum += total
        low, high = (v.as_py() for v in pc.min_max(lengths).values())
        self.length_min = low if self.length_min is None else min(self.length_min, low)
        self.length_max = high if self.length_max is None else max(self.length_max, high)

    def _add_script(self, values: pa.Array | pa.ChunkedArray) -> None:
        rows = len(values)
        # A string holds a Latin letter exactly when its ASCII lower and upper cases differ: two byte
        # transforms and a compare, several times faster than the regular expression [A-Za-z].
        latin = pc.not_equal(pc.ascii_lower(values), pc.ascii_upper(values))
        latin_rows = _count(latin)
        # Hangul needs a regular expression, run only on the strings that are not pure ASCII.
        non_ascii = pc.invert(pc.string_is_ascii(values))
        if _count(non_ascii) < rows:
            values, latin = values.filter(non_ascii), latin.filter(non_ascii)
        hangul = pc.match_substring_regex(values, HANGUL_RE2)
        both = _count(pc.and_(hangul, latin))
        only_hangul, only_latin = _count(hangul) - both, latin_rows - both
        self.script["hangul"] += only_hangul
        self.script["latin"] += only_latin
        self.script["mixed"] += both
        self.script["other"] += rows - only_hangul - only_latin - both

    def _add_values(self, values: pa.Array | pa.ChunkedArray) -> None:
        counted = pc.value_counts(values)
        distinct, counts = counted.field("values"), counted.field("counts")
        if pa.types.is_dictionary(distinct.type):
            distinct = distinct.cast(distinct.type.value_type)
        lengths = pc.utf8_length(distinct)
        empty = pc.sum(pc.if_else(pc.equal(lengths, 0), counts, 0)).as_py() or 0
        self._add_lengths(lengths, empty, pc.sum(pc.multiply(lengths.cast(pa.int64()), counts)).as_py() or 0)
        if not self.values_complete:
            return
        for value, rows in zip(distinct.to_pylist(), counts.to_pylist()):
            self.values[value] += rows
        if len(self.values) > MAX_COUNTED_VALUES:
            self.values_complete = False
            self.values = Counter(dict(self.values.most_common(MAX_COUNTED_VALUES)))

    def to_dict(self) -> dict[str, Any]:
        mean = self.length_sum / self.count if self.count else None
        summary: dict[str, Any] = {
            "type": "text",
            "role": self.role,
            "count": self.count,
            "nulls": self.nulls,
            "empty": self.empty,
            "length": {"min": self.length_min, "mean": mean, "max": self.length_max},
        }
        if self.role == "prose":
            summary["script"] = dict(self.script)
        if self.role == "categorical":
            summary["values"] = [{"value": v, "rows": n} for v, n in
                                 sorted(self.values.items(), key=lambda item: (-item[1], item[0]))]
            summary["values_complete"] = self.values_complete
        return summary


@dataclass
class BinarySummary:
    count: int = 0
    nulls: int = 0
    bytes: int = 0

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        self.nulls += column.null_count
        values = column.drop_null()
        self.count += len(values)
        self.bytes += pc.sum(pc.binary_length(values)).as_py() or 0

    def to_dict(self) -> dict[str, Any]:
        return {"type": "binary", "count": self.count, "nulls": self.nulls, "total_bytes": self.bytes}


Summary = NumericSummary | TextSummary | IdentifierSummary | BinarySummary


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)


def is_string(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type)


def summary_for(data_type: pa.DataType, sample: list[str] | None = None) -> Summary | None:
    """The summary a column of this type gets (``sample``: a string column's first values), or None."""
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_boolean(data_type):
        return NumericSummary()
    if is_string(data_type):
        role = string_role(sample or [])
        return IdentifierSummary() if role == "identifier" else TextSummary(role=role)
    if pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type):
        return BinarySummary()
    return None
