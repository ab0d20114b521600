"""Validation of ``manifest.json``, the descriptor, before anything in it is used.

A descriptor is data from disk that anyone may have edited: every field a reader relies on is checked for
presence and type here, and a broken one is a :class:`~kdata.errors.ManifestError` of one line that names
the field (``shards[3].sha256``) and the value found, never a ``KeyError`` or ``TypeError`` later on.
Shard files must stay inside the manifest's folder (a ``../`` entry or a symlink out of it is refused).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from kdata.errors import ManifestError
from kdata.schema import KINDS, SCHEMA_VERSION

HEX64 = re.compile(r"[0-9a-f]{64}")
REQUIRED = ("kind", "schema_version", "shards", "num_rows", "lineage", "fingerprint")


def check_descriptor(descriptor: Any, where: Path) -> None:
    """Raise :class:`ManifestError` naming the first missing or ill-typed field of ``descriptor``."""
    if not isinstance(descriptor, dict):
        raise ManifestError(f"{where} does not hold a manifest descriptor (a JSON object)")
    for key in REQUIRED:
        if key not in descriptor:
            raise ManifestError(f"{where} lacks the {key!r} field")
    _check_version(descriptor["schema_version"], where)
    kind = descriptor["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise _bad(where, "kind", kind, f"one of {', '.join(sorted(KINDS))}")
    shards = descriptor["shards"]
    if not isinstance(shards, list):
        raise _bad(where, "shards", shards, "a list of shard entries")
    for index, entry in enumerate(shards):
        _check_shard_entry(entry, f"shards[{index}]", where)
    num_rows = descriptor["num_rows"]
    if not _is_count(num_rows):
        raise _bad(where, "num_rows", num_rows, "a row count")
    if num_rows != sum(entry["rows"] for entry in shards):
        raise ManifestError(f"{where}: field 'num_rows' is {num_rows} but its shards hold "
                            f"{sum(entry['rows'] for entry in shards)} rows")
    if not isinstance(descriptor["fingerprint"], str) or not HEX64.fullmatch(descriptor["fingerprint"]):
        raise _bad(where, "fingerprint", descriptor["fingerprint"], "a sha256 in hex")
    _check_lineage(descriptor["lineage"], "lineage", where)
    _check_optional(descriptor, where)


def _check_version(version: Any, where: Path) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _bad(where, "schema_version", version, f"a whole number from 1 to {SCHEMA_VERSION}")
    if version > SCHEMA_VERSION:
        raise ManifestError(
            f"{where} has schema version {version}, newer than this kcli understands ({SCHEMA_VERSION}); upgrade kcli"
        )


def _check_shard_entry(entry: Any, name: str, where: Path) -> None:
    if not isinstance(entry, dict):
        raise _bad(where, name, entry, "an object with file, rows and sha256")
    for key in ("file", "rows", "sha256"):
        if key not in entry:
            raise ManifestError(f"{where}: {name} lacks the {key!r} field")
    file = entry["file"]
    if not isinstance(file, str) or not file or "\x00" in file:
        raise _bad(where, f"{name}.file", file, "a file name")
    if not _is_count(entry["rows"]):
        raise _bad(where, f"{name}.rows", entry["rows"], "a row count")
    if not isinstance(entry["sha256"], str) or not HEX64.fullmatch(entry["sha256"]):
        raise _bad(where, f"{name}.sha256", entry["sha256"], "a sha256 in hex")


def _check_lineage(step: Any, name: str, where: Path) -> None:
    """A lineage step as inspect, report and the dataset card read it."""
    if not isinstance(step, dict):
        raise _bad(where, name, step, "a lineage object")
    if not isinstance(step.get("stage"), str):
        raise _bad(where, f"{name}.stage", step.get("stage"), "a stage name")
    if not isinstance(step.get("config") or {}, dict):
        raise _bad(where, f"{name}.config", step["config"], "an object of settings")
    for key in ("parent", "parent_fingerprint", "kcli_version", "created"):
        if not isinstance(step.get(key) or "", str):
            raise _bad(where, f"{name}.{key}", step[key], "a string or null")


def _check_optional(descriptor: dict[str, Any], where: Path) -> None:
    ancestors = descriptor.get("ancestors", [])
    if not isinstance(ancestors, list):
        raise _bad(where, "ancestors", ancestors, "a list of lineage objects")
    for index, step in enumerate(ancestors):
        _check_lineage(step, f"ancestors[{index}]", where)
    blob_dirs = descriptor.get("blob_dirs", [])
    if not isinstance(blob_dirs, list):
        raise _bad(where, "blob_dirs", blob_dirs, "a list of folders")
    for index, folder in enumerate(blob_dirs):
        if not isinstance(folder, str) or not folder or "\x00" in folder:
            raise _bad(where, f"blob_dirs[{index}]", folder, "a folder path")
    if not isinstance(descriptor.get("stats", {}), dict):
        raise _bad(where, "stats", descriptor["stats"], "an object of counters")
    if not isinstance(descriptor.get("kcli_version", ""), str):
        raise _bad(where, "kcli_version", descriptor["kcli_version"], "a version string")


def check_shard_files(shards: list[dict[str, Any]], root: Path, data_dir: str, where: Path) -> None:
    """Every shard file must resolve (symlinks followed) inside the manifest folder ``root``."""
    real_root = Path(os.path.realpath(root))
    for index, entry in enumerate(shards):
        file = entry["file"]
        relative = PurePosixPath(file)
        real = Path(os.path.realpath(root / data_dir / file))
        if relative.is_absolute() or ".." in relative.parts or real_root not in real.parents:
            raise ManifestError(f"{where}: shards[{index}].file {_show(file)} is outside the manifest folder")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bad(where: Path, field: str, value: Any, expected: str) -> ManifestError:
    return ManifestError(f"{where}: field {field!r} must be {expected}, got {_show(value)}")


def _show(value: Any, limit: int = 60) -> str:
    """A value as it appears in a one-line message: its repr, cut short."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
