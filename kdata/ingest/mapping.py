"""Sidecar mappings: which fields of an image's metadata (nested JSON) become which manifest columns.

Archives publish one annotation JSON per image with nested objects (``annotation.paper.type``). A
mapping, a small TOML file, names the output column for each dotted path, the values a column may take
(any other value rejects the row with ``unexpected_value:<column>``, so typos surface instead of
splitting a class), and optional English glosses (``<column>_en``) for caption templates. Shipped
mappings live in ``kdata/ingest/mappings/`` and are chosen by name; any other TOML file by path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.config import from_dict, load_toml
from kdata.registry import Registry

MAPPINGS_DIR = Path(__file__).with_name("mappings")


@dataclass
class SidecarMapping:
    description: str = ""
    carry_top_level: bool = True  # top-level scalar fields become columns under their own names
    columns: dict[str, str] = field(default_factory=dict)  # output column -> dotted path
    allowed: dict[str, list[str]] = field(default_factory=dict)
    english: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table in ("allowed", "english"):
            unknown = sorted(set(getattr(self, table)) - set(self.columns))
            if unknown:
                raise ValueError(f"[{table}] names {unknown[0]!r}, which is not in [columns]")


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


def apply_mapping(meta: dict[str, Any], mapping: SidecarMapping) -> tuple[dict[str, Any], str | None]:
    """Map one metadata record to columns; the second value is a rejection reason, or None."""
    row: dict[str, Any] = {}
    if mapping.carry_top_level:
        row.update({k: v for k, v in meta.items() if _scalar(v)})
    for column, dotted in mapping.columns.items():
        value = lookup(meta, dotted)
        row[column] = value.strip() if isinstance(value, str) else value if _scalar(value) else _as_text(value)
    reason = None
    for column, allowed in mapping.allowed.items():
        if row.get(column) is not None and row[column] not in allowed and reason is None:
            reason = f"unexpected_value:{column}={row[column]}"
    for column, glosses in mapping.english.items():
        row[f"{column}_en"] = glosses.get(row[column]) if row.get(column) is not None else None
    return row, reason


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _as_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)

