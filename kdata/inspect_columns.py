"""Per-column summaries for ``kcli inspect``, computed with Arrow compute kernels over whole shards.

Each summary measures one column chunk at a time (``measure``: only Arrow kernels, no state touched, so
chunks are measured on several threads at once), folds the measurements in shard order (``fold``; ``add``
does both) and turns into plain data (``to_dict``). The kind of summary is chosen per column from its type
and, for strings, from a sample of its first values (:func:`string_role`): text statistics (lengths,
Hangul/Latin script) only for columns that hold prose, value counts for low-cardinality columns, lengths
only for keys, URLs, paths and hashes.
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
LATIN = r"[A-Za-z]"  # what the script split means by Latin (computed without a regex, see _script_counts)
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
        self.fold(self.measure(column))

    @staticmethod
    def measure(column: pa.Array | pa.ChunkedArray) -> tuple[int, Any, Any, np.ndarray]:
        """(nulls, min, max, the non-null values as float64)."""
        if pa.types.is_boolean(column.type):
            column = column.cast(pa.uint8())
        values = column.drop_null()
        if len(values) == 0:
            return column.null_count, None, None, np.empty(0)
        low, high = (v.as_py() for v in pc.min_max(values).values())
        # Kept in the column's own type: half the memory of float64 for int32 and float32 columns, and a faster
        # partition for the median.
        return column.null_count, low, high, np.concatenate([numpy_view(c) for c in _chunks(values)])

    def fold(self, measured: tuple[int, Any, Any, np.ndarray]) -> None:
        nulls, low, high, values = measured
        self.nulls += nulls
        if values.size == 0:
            return
        self.count += values.size
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        self.chunks.append(values)
        self.pending += values.size
        if self.pending > EXACT_VALUES:
            self._compact()

    def _compact(self) -> None:
        values = np.concatenate(self.chunks)
        fresh = values.size - self.sample_keys.size
        keys = np.concatenate([self.sample_keys, self.rng.random(fresh)])
        keep = np.argpartition(keys, EXACT_VALUES)[:EXACT_VALUES]
        self.sample_keys, self.chunks, self.pending, self.compacted = keys[keep], [values[keep]], 0, True

    def median(self) -> float | None:
        """``np.median``'s value (the two middle values averaged in float64; NaN if there is one), from one
        partition in the values' own type."""
        if not self.chunks:
            return None
        values = np.concatenate(self.chunks)
        middle = values.size // 2
        kth = [middle - 1, middle] if values.size % 2 == 0 else [middle]
        floating = values.dtype.kind == "f"
        ordered = np.partition(values, [*kth, values.size - 1] if floating else kth)
        if floating and np.isnan(ordered[-1]):  # NaN sorts last
            return float("nan")
        return sum(float(ordered[k]) for k in kth) / len(kth)

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
        self.fold(self.measure(column))

    @staticmethod
    def measure(column: pa.Array | pa.ChunkedArray) -> tuple[int, int]:
        return len(column) - column.null_count, column.null_count

    def fold(self, measured: tuple[int, int]) -> None:
        self.add_counts(*measured)

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
        self.fold(self.measure(column))

    def measure(self, column: pa.Array | pa.ChunkedArray) -> TextMeasure:
        values = column.drop_null()
        measured = TextMeasure(nulls=column.null_count, count=len(values))
        if len(values) == 0:
            return measured
        if self.role == "categorical":
            return _measure_values(values, measured)
        lengths = pc.utf8_length(values)
        empty = sum(int(np.count_nonzero(numpy_view(chunk) == 0)) for chunk in _chunks(lengths))
        measured.lengths = _length_stats(lengths, empty, pc.sum(lengths).as_py() or 0)
        # A string is pure ASCII exactly when its length in characters equals its length in bytes (the
        # latter read from the offsets alone): no pass over the text as string_is_ascii would make.
        non_ascii = pc.not_equal(lengths, pc.binary_length(values))
        measured.script = _script_counts(values, non_ascii)
        return measured

    def fold(self, measured: TextMeasure) -> None:
        self.nulls += measured.nulls
        self.count += measured.count
        if measured.lengths is not None:
            empty, total, low, high = measured.lengths
            self.empty += empty
            self.length_sum += total
            self.length_min = low if self.length_min is None else min(self.length_min, low)
            self.length_max = high if self.length_max is None else max(self.length_max, high)
        self.script.update(measured.script)
        if not self.values_complete or not measured.values:
            return
        for value, rows in measured.values:
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
class TextMeasure:
    """What :meth:`TextSummary.measure` found in one chunk: counts, length statistics (empty, sum, min, max),
    the script split (prose) or the value counts (categorical)."""

    nulls: int
    count: int
    lengths: tuple[int, int, int, int] | None = None
    script: Counter[str] = field(default_factory=Counter)
    values: list[tuple[str, int]] = field(default_factory=list)


def _length_stats(lengths: pa.Array | pa.ChunkedArray, empty: int, total: int) -> tuple[int, int, int, int]:
    low, high = (v.as_py() for v in pc.min_max(lengths).values())
    return empty, total, low, high


def _script_counts(values: pa.Array | pa.ChunkedArray, non_ascii: pa.Array | pa.ChunkedArray) -> Counter[str]:
    rows = len(values)
    # A string holds a Latin letter exactly when its ASCII lower and upper cases differ: two byte
    # transforms and a compare, several times faster than the regular expression [A-Za-z].
    latin = pc.not_equal(pc.ascii_lower(values), pc.ascii_upper(values))
    latin_rows = _count(latin)
    # Hangul needs a regular expression, run only on the strings that are not pure ASCII (when those are
    # few enough for copying them out to cost less than scanning the rest).
    if _count(non_ascii) < rows // 2:
        values, latin = values.filter(non_ascii), latin.filter(non_ascii)
    hangul = pc.match_substring_regex(values, HANGUL_RE2)
    both = _count(pc.and_(hangul, latin))
    only_hangul, only_latin = _count(hangul) - both, latin_rows - both
    return Counter({"hangul": only_hangul, "latin": only_latin, "mixed": both,
                    "other": rows - only_hangul - only_latin - both})


def _measure_values(values: pa.Array | pa.ChunkedArray, measured: TextMeasure) -> TextMeasure:
    """Value counts of a categorical chunk, and its lengths from them. A dictionary-encoded chunk (how these
    columns are read) is counted by a bincount over its indices, with no hashing of strings."""
    pairs: Counter[str] = Counter()
    for chunk in _chunks(values):
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        if len(chunk) == 0:
            continue
        counts = np.bincount(numpy_view(chunk.indices), minlength=len(chunk.dictionary))
        dictionary = chunk.dictionary.to_pylist()
        for code in np.flatnonzero(counts).tolist():
            pairs[dictionary[code]] += int(counts[code])
    lengths = np.fromiter((len(value) for value in pairs), dtype=np.int64, count=len(pairs))
    rows = np.fromiter(pairs.values(), dtype=np.int64, count=len(pairs))
    if len(pairs):
        measured.lengths = (int(rows[lengths == 0].sum()), int((lengths * rows).sum()), int(lengths.min()),
                            int(lengths.max()))
    measured.values = list(pairs.items())
    return measured


@dataclass
class BinarySummary:
    count: int = 0
    nulls: int = 0
    bytes: int = 0

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        self.fold(self.measure(column))

    @staticmethod
    def measure(column: pa.Array | pa.ChunkedArray) -> tuple[int, int, int]:
        values = column.drop_null()
        return column.null_count, len(values), pc.sum(pc.binary_length(values)).as_py() or 0

    def fold(self, measured: tuple[int, int, int]) -> None:
        nulls, count, size = measured
        self.nulls += nulls
        self.count += count
        self.bytes += size

    def to_dict(self) -> dict[str, Any]:
        return {"type": "binary", "count": self.count, "nulls": self.nulls, "total_bytes": self.bytes}


Summary = NumericSummary | TextSummary | IdentifierSummary | BinarySummary


def _chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


def numpy_view(array: pa.Array) -> np.ndarray:
    """A null-free integer or floating-point array's values as a numpy view of its buffer.

    Not ``Array.to_numpy``, nor kernels with Python scalars: both make pyarrow import pandas, which would be
    a fifth of ``kcli inspect``'s time. Booleans are cast to uint8 first (their buffer holds bits)."""
    if array.null_count:
        raise ValueError("numpy_view needs an array without nulls")
    if pa.types.is_boolean(array.type):
        array = array.cast(pa.uint8())
    kind = "f" if pa.types.is_floating(array.type) else "i" if pa.types.is_signed_integer(array.type) else "u"
    dtype = np.dtype(f"{kind}{array.type.bit_width // 8}")
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


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
