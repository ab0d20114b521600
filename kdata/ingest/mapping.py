"""Sidecar mappings: which fields of an image's metadata (nested JSON) become which manifest columns.

Archives publish annotations as nested JSON, one file per image or one file for several images (AI-Hub's
ink-painting set names its images under ``annotation.Paire``), often with integer codes where a caption
needs words. A mapping, a small TOML file, says::

    images = "annotation.Paire"  # optional: one annotation file names the images it describes
    scope = "annotation"         # optional: a record with a value here is one the mapping describes

    [columns]                    # output column -> dotted path, or paths tried in order
    paper_type = ["annotation.PaperType", "annotation.paper.type"]

    [values.paper_type]          # code -> label: a code, a range "lo-hi", a text, or "otherwise"
    1 = "화선지"
    otherwise = "순지"

    [english.paper_type]         # label -> English gloss, written to paper_type_en
    "화선지" = "hwaseonji (Xuan paper)"

A value that no entry of its ``[values]`` table matches (or, without one, that is not in ``[allowed]``)
rejects the row with ``unexpected_value:<column>=<value>``, so a typo or an unknown code surfaces instead
of splitting a class. A record the mapping describes must give every column a value: a null one fails
the row with ``mapping_null:<columns>`` (the usual cause is a path that does not match the archive's
layout). Shipped mappings live in ``kdata/ingest/mappings/`` and are chosen by name; any other TOML file by
path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.config import from_dict, load_toml
from kdata.registry import Registry

MAPPINGS_DIR = Path(__file__).with_name("mappings")
OTHERWISE = "otherwise"
MAPPING_NULL = "mapping_null:"
_CODE = re.compile(r"\d+")
_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")


@dataclass(frozen=True)
class ValueTable:
    """One column's ``[values]`` table: integer codes, inclusive code ranges, texts, and a default for codes."""

    codes: dict[int, str]
    ranges: tuple[tuple[int, int, str], ...]
    texts: dict[str, str]
    otherwise: str | None

    @classmethod
    def parse(cls, column: str, table: dict[str, Any]) -> ValueTable:
        codes: dict[int, str] = {}
        ranges: list[tuple[int, int, str]] = []
        texts: dict[str, str] = {}
        otherwise = None
        for key, label in table.items():
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"[values.{column}] {key!r} must map to a label (text), got {label!r}")
            key = key.strip()
            if key == OTHERWISE:
                otherwise = label
            elif _CODE.fullmatch(key):
                codes[int(key)] = label
            elif match := _RANGE.fullmatch(key):
                low, high = int(match[1]), int(match[2])
                if low > high:
                    raise ValueError(f"[values.{column}] range {key!r} runs backwards; write it as \"{high}-{low}\"")
                ranges.append((low, high, label))
            else:
                texts[key] = label
        values = cls(codes, tuple(sorted(ranges)), texts, otherwise)
        values._check_overlaps(column)
        return values

    def _check_overlaps(self, column: str) -> None:
        spans = sorted([(c, c, f"{c}") for c in self.codes] + [(lo, hi, f"{lo}-{hi}") for lo, hi, _ in self.ranges])
        for (_, high, first), (low, _, second) in zip(spans, spans[1:]):
            if low <= high:
                raise ValueError(f"[values.{column}] {first!r} and {second!r} overlap: a code must have one label")

    @property
    def labels(self) -> set[str]:
        found = {*self.codes.values(), *(label for _, _, label in self.ranges), *self.texts.values()}
        return found | ({self.otherwise} if self.otherwise else set())

    def label(self, value: Any) -> str | None:
        """The label for ``value``, or None when no entry matches it.

        A number (or a text of digits) is a code: its entry, its range, else ``otherwise``. A text is its own
        entry or already a label; ``otherwise`` never applies to text, so a typo is caught, not defaulted.
        """
        code = _as_code(value)
        if code is not None:
            if code in self.codes:
                return self.codes[code]
            found = next((label for low, high, label in self.ranges if low <= code <= high), None)
            return found if found is not None else self.otherwise
        if isinstance(value, str):
            return self.texts.get(value, value if value in self.labels else None)
        return None


@dataclass
class SidecarMapping:
    description: str = ""
    carry_top_level: bool = True  # top-level scalar fields become columns under their own names
    images: str | None = None  # dotted path of the image file names one annotation file describes
    scope: str | None = None  # dotted path whose presence marks a record this mapping describes
    columns: dict[str, str | list[str]] = field(default_factory=dict)  # output column -> dotted path(s)
    optional: list[str] = field(default_factory=list)  # columns that may come out null
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> code/range/text -> label
    allowed: dict[str, list[str]] = field(default_factory=dict)
    english: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for column, paths in self.columns.items():
            listed = [paths] if isinstance(paths, str) else paths
            if not isinstance(listed, list) or not listed or not all(isinstance(p, str) and p for p in listed):
                raise ValueError(f"[columns] {column} must be a dotted path or a list of them, got {paths!r}")
        for table in ("optional", "values", "allowed", "english"):
            unknown = sorted(set(getattr(self, table)) - set(self.columns))
            if unknown:
                raise ValueError(f"[{table}] names {unknown[0]!r}, which is not in [columns]")
        # Kept off the dataclass fields, so the recorded config stays the file's own content.
        self._tables = {column: ValueTable.parse(column, table) for column, table in self.values.items()}
        for column, glosses in self.english.items():
            missing = sorted(self.labels(column) - set(glosses))
            if missing:
                raise ValueError(f"[english.{column}] has no gloss for {missing[0]!r}")
        for column, table in self._tables.items():
            outside = sorted(table.labels - set(self.allowed.get(column, table.labels)))
            if outside:
                raise ValueError(f"[values.{column}] gives {outside[0]!r}, which [allowed] does not list")

    def paths(self, column: str) -> list[str]:
        paths = self.columns[column]
        return [paths] if isinstance(paths, str) else list(paths)

    def value_table(self, column: str) -> ValueTable | None:
        return self._tables.get(column)

    def labels(self, column: str) -> set[str]:
        """Every value ``column`` can take once mapped, where the mapping says (empty: any value)."""
        table = self._tables.get(column)
        return table.labels if table is not None else set(self.allowed.get(column, []))

    def describes(self, meta: dict[str, Any]) -> bool:
        """Whether ``meta`` is a record this mapping is meant for (its columns must then have values)."""
        return lookup(meta, self.scope) is not None if self.scope else bool(meta)


@dataclass
class MappedRecord:
    """One record's columns, and why its row is rejected (a value out of table) or failed (a null column)."""

    columns: dict[str, Any]
    rejected: str | None = None
    failed: str | None = None


def builtin_mappings() -> Registry[Path]:
    registry: Registry[Path] = Registry("sidecar mapping")
    for path in sorted(MAPPINGS_DIR.glob("*.toml")):
        registry.add(path.stem, path)
    return registry


def load_mapping(name_or_path: str | None) -> SidecarMapping:
    """A shipped mapping by name (``ink-painting``), a TOML file by path, or the default (top level only)."""
    if not name_or_path:
        return SidecarMapping()
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        path = builtin_mappings().get(name_or_path)
    return from_dict(SidecarMapping, load_toml(path), where=str(path))


def lookup(data: Any, dotted: str) -> Any:
    """The value at ``a.b.0.c`` in nested dicts/lists, or None when any step is missing."""
    for step in dotted.split("."):
        if isinstance(data, dict):
            data = data.get(step)
        elif isinstance(data, list) and step.isdigit() and int(step) < len(data):
            data = data[int(step)]
        else:
            return None
    return data


def apply_mapping(meta: dict[str, Any], mapping: SidecarMapping) -> MappedRecord:
    """Map one metadata record to columns: look each column up, translate codes, check, gloss."""
    row: dict[str, Any] = {}
    if mapping.carry_top_level:
        row.update({k: v for k, v in meta.items() if _scalar(v)})
    for column in mapping.columns:
        value = next((v for v in (lookup(meta, p) for p in mapping.paths(column)) if v is not None), None)
        if isinstance(value, str):
            value = value.strip() or None  # an empty text is no value
        row[column] = value if _scalar(value) else _as_text(value)
    unexpected: dict[str, Any] = {}
    for column in (c for c in mapping.columns if row[c] is not None):
        label = _label(mapping, column, row[column])
        if label is None:
            unexpected[column] = row[column]
        else:
            row[column] = label
    for column, glosses in mapping.english.items():
        row[f"{column}_en"] = glosses.get(row[column]) if row[column] is not None else None
    rejected = next((f"unexpected_value:{c}={v}" for c, v in unexpected.items()), None)
    return MappedRecord(row, rejected, _null_columns(meta, row, mapping, set(unexpected)))


def _null_columns(meta: dict[str, Any], row: dict[str, Any], mapping: SidecarMapping, rejected: set[str]) -> str | None:
    """``mapping_null:<columns>`` when a record the mapping describes leaves a column (or its gloss) null."""
    if not mapping.describes(meta):
        return None
    null = [c for c in mapping.columns if c not in mapping.optional and row[c] is None]
    # A value the mapping rejected has no gloss, and its row has its reason already.
    null += [f"{c}_en" for c in mapping.english if c not in rejected and row[c] is not None and row[f"{c}_en"] is None]
    return f"{MAPPING_NULL}{','.join(null)}" if null else None


def _label(mapping: SidecarMapping, column: str, value: Any) -> Any:
    """The mapped value of a non-null ``value``, or None when the mapping rejects it."""
    table = mapping.value_table(column)
    if table is not None:
        return table.label(value)
    allowed = mapping.allowed.get(column)
    return value if allowed is None or value in allowed else None


def _as_code(value: Any) -> int | None:
    """An integer code from a JSON number or a text of digits (exports differ); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _CODE.fullmatch(value):
        return int(value)
    return None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _as_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
