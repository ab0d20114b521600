"""Stage and trainer configs: dataclasses filled from layers, with one precedence for every config::

    defaults < --config file (TOML) < named command-line options < --set KEY=VALUE

A later layer wins key by key, and tables merge rather than replace: ``--set clip.model=ViT-B-32`` changes
that one key of the file's ``[clip]`` table and keeps the others. A named option left unset (``None``) is
not a layer at all. ``--set`` comes last because it is the most explicit: it names the exact key, so it
reaches settings that have no option of their own and can correct one that has (as scrapy's ``-s``).
Arrays (``seeds``, ``[[rules]]``) are values, not tables: a later layer replaces them whole.

Unknown keys are errors (a typo must not silently fall back to a default), and the resolved config is
what the runner records in every output's lineage.
"""

from __future__ import annotations

import dataclasses
import datetime
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from kdata.errors import ConfigError

C = TypeVar("C")


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def parse_set_options(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as settings; a dotted key is a table: ``clip.model=x`` is ``[clip] model = "x"``.

    The value is read as TOML (``0``, ``1e-4``, ``true``, ``[1, 2]``, ``"x"``), else kept as the text itself, so
    ``--set clip.model=ViT-B-32`` needs no quotes. Of two items for one key, the later wins.
    """
    settings: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. max_steps=100 or clip.model=ViT-B-32")
        value = _set_value(raw.strip())
        for part in reversed(path):
            value = {part: value}
        settings = merge_layers(settings, value)
    return settings


def _set_value(raw: str) -> Any:
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    # TOML reads 2024-05-01 as a date, but no setting is one: such a value is meant as text.
    return raw if isinstance(value, (datetime.date, datetime.time)) else value


def merge_layers(*layers: dict[str, Any] | None) -> dict[str, Any]:
    """Deep-merge settings, later layers winning key by key; tables merge, ``None`` values are unset."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if value is None:
                continue
            if isinstance(value, dict):
                merged[key] = merge_layers(merged[key] if isinstance(merged.get(key), dict) else None, value)
            else:
                merged[key] = value
    return merged


def layered_settings(cls: type, file: str | Path | None = None, named: dict[str, Any] | None = None,
                     sets: list[str] | None = None) -> dict[str, Any]:
    """The layers of ``cls``'s settings merged (see the module docstring), for configs built by their own parser.

    ``file`` is a TOML path, ``named`` the named options (``None``: not given), ``sets`` the raw ``--set`` items.
    An unknown ``--set`` key fails here, naming ``--set`` rather than the file.
    """
    overrides = parse_set_options(sets)
    _check_set_keys(cls, overrides)
    return merge_layers(load_toml(file) if file else None, named, overrides)


def layered_config(cls: type[C], file: str | Path | None = None, named: dict[str, Any] | None = None,
                   sets: list[str] | None = None, where: str = "config") -> C:
    """Build ``cls`` from its layers: defaults < ``file`` < ``named`` < ``sets`` (see the module docstring)."""
    return from_dict(cls, layered_settings(cls, file, named, sets), str(file) if file else where)


def _check_set_keys(cls: type, settings: dict[str, Any], prefix: str = "") -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in settings.items():
        if key not in fields:
            table = f" in [{prefix[:-1]}]" if prefix else ""
            raise ConfigError(f"--set: unknown key {prefix + key!r}; valid keys{table}: {', '.join(sorted(fields))}")
        section = _table_class(hints[key])
        if section is not None and isinstance(value, dict):
            _check_set_keys(section, value, f"{prefix}{key}.")


def _table_class(hint: Any) -> type | None:
    """The config dataclass a field holds (``RerankConfig | None`` holds one too), else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def from_dict(cls: type[C], data: dict[str, Any], where: str = "config") -> C:
    """Instantiate a (possibly nested) config dataclass, rejecting unknown keys with the valid ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, where)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return value if value is None or len(args) != 1 else _coerce(args[0], value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    if origin in (list, tuple) and not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return value
