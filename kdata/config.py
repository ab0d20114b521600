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
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Gt, Interval

from kdata.errors import ConfigError

C = TypeVar("C")

# Field types for config dataclasses; pydantic checks them in :func:`from_dict` (annotated_types is what
# pydantic reads its constraints from, and it imports in a millisecond where pydantic takes a third of a second).
AtLeastOne = Annotated[int, Ge(1)]
NonNegativeInt = Annotated[int, Ge(0)]
NonNegativeFloat = Annotated[float, Ge(0)]
PositiveFloat = Annotated[float, Gt(0)]
Fraction = Annotated[float, Interval(ge=0, lt=1)]  # a share: 0 included, 1 not


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


def from_dict(cls: type[C], data: dict[str, Any], where: str = "config", prefix: str = "") -> C:
    """Instantiate a (possibly nested) config dataclass, checking every value against its field's type.

    The one place settings become a config, for files, named options and ``--set`` alike: unknown keys are
    refused with the valid ones, and each value is validated strictly by pydantic against the field's annotation
    (``Literal`` choices, ``Annotated[int, Ge(1)]`` ranges, ``list[str]``). Strict means no silent coercion:
    ``true`` is not an int, ``1`` is not a str. A nested table's keys are named with their dotted ``prefix``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {prefix + unknown[0]!r}; valid keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls, include_extras=True)
    values = {name: check_value(hints[name], value, where, prefix + name) for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def checked(cls: type[C], where: str, **values: Any) -> C:
    """``cls(**values)`` with every value checked against its field's type, as a config from a file would be:
    for configs built from named options in code (``checked(GenerateConfig, "generate", steps=30, ...)``)."""
    return from_dict(cls, values, where)


def check_value(hint: Any, value: Any, where: str, key: str) -> Any:
    """``value`` checked against ``hint`` (a nested table becomes its config), else a one-line error naming ``key``."""
    from pydantic import ValidationError  # lazy: ``kcli --help`` does not pay for pydantic

    table = _table_class(hint)
    if table is not None and isinstance(value, dict):
        return from_dict(table, value, where, f"{key}.")
    if isinstance(value, tuple):  # a repeated command-line option arrives as a tuple; configs hold lists
        value = list(value)
    adapter = _adapter(hint)
    try:
        return adapter.validate_python(value, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
    number = _float_text(value)
    if number is not None:  # "1e-4" quoted in a file is still a float where the field is one
        try:
            return adapter.validate_python(number, strict=True)
        except ValidationError:
            pass
    path, inner = _locate(hint, error["loc"])
    if path:  # an item of a list or table: name that item, as given
        key, value = key + path, error["input"]
    raise ConfigError(f"{where}: {key} = {_shown(value)}: expected {describe_type(inner)}")


def _locate(hint: Any, loc: tuple[Any, ...]) -> tuple[str, Any]:
    """The dotted/indexed suffix of the item pydantic's ``loc`` points at inside ``hint``, and that item's type.

    A union's members show in ``loc`` by name; the item is then described as the whole union.
    """
    path = ""
    for part in loc:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is typing.Annotated:
            hint, origin, args = args[0], typing.get_origin(args[0]), typing.get_args(args[0])
        if origin in (list, tuple, set) and isinstance(part, int) and args:
            path, hint = f"{path}[{part}]", args[0]
        elif origin is dict and len(args) == 2 and part != "[key]":
            path, hint = f"{path}.{part}", args[1]
        else:
            break
    return path, hint


_ADAPTERS: dict[Any, Any] = {}


def _adapter(hint: Any) -> Any:
    from pydantic import TypeAdapter

    if hint not in _ADAPTERS:
        _ADAPTERS[hint] = TypeAdapter(hint)
    return _ADAPTERS[hint]


def _float_text(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe_type(hint: Any) -> str:
    """What a field takes, in words: ``one of constant, cosine``, ``int >= 1``, ``a list of str``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        bounds = [_bound(item) for item in _constraints(args[1:])]
        return " ".join([describe_type(args[0]), *[b for b in bounds if b]])
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args if a is not type(None))
    if origin in (list, tuple, set):
        return f"a list of {describe_type(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a table"
    if dataclasses.is_dataclass(hint):
        return "a table of settings"
    if hint is typing.Any:
        return "any value"
    return getattr(hint, "__name__", str(hint))


def _constraints(metadata: tuple[Any, ...]) -> list[Any]:
    """annotated_types constraints, also from inside a pydantic ``Field(ge=...)``."""
    items: list[Any] = []
    for item in metadata:
        items.extend(getattr(item, "metadata", None) or [item])
    return items


def _bound(item: Any) -> str:
    parts = [f"{op} {getattr(item, name)}" for op, name in ((">=", "ge"), (">", "gt"), ("<=", "le"), ("<", "lt"))
             if getattr(item, name, None) is not None]
    return " and ".join(parts)
