"""Backends that caption from a row's own metadata: ``template`` and ``alt_text``. No model, no image."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from kdata.caption.alt_text import clean_alt_text
from kdata.caption.backends.base import BACKENDS, Backend, Candidate, RowItem, Source, describe_error, short_hash
from kdata.errors import ConfigError
from kdata.textnorm import detect_language, normalize_text

MISSING_COLUMN_MODES = ("error", "skip")


def _check_missing_mode(value: str) -> None:
    if value not in MISSING_COLUMN_MODES:
        raise ValueError(f"on_missing_column must be one of {', '.join(MISSING_COLUMN_MODES)}, got {value!r}")


@dataclass
class TemplateConfig:
    """``template``: Python ``str.format`` over column names, e.g. ``"{paper_type}, {method}, {caption_ko}"``.

    ``on_missing_column = "skip"`` leaves the backend out when the manifest lacks one of its columns
    (for configs shared by sources with different metadata); the default stops before the run starts.
    """

    template: str
    on_missing_column: str = "error"

    def __post_init__(self) -> None:
        _check_missing_mode(self.on_missing_column)
        template_fields(self.template)


def template_fields(template: str) -> list[str]:
    """The column names a template reads, in order; a malformed template is a ConfigError."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"bad template {template!r}: {exc}") from None
    names: list[str] = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if not name or not name.isidentifier():
            raise ConfigError(
                f"bad template {template!r}: {{{name}}} is not a column name (use plain names like {{method}})"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError(f"template {template!r} names no column; a caption template needs at least one {{column}}")
    return names


@BACKENDS.register("template")
class TemplateBackend(Backend):
    """A caption from metadata columns. A row with an empty value in any field gets no candidate."""

    source = Source.TEMPLATE
    config_cls = TemplateConfig

    def __init__(self, config: TemplateConfig, language: str, label: str) -> None:
        super().__init__(config, language, label)
        self.fields = template_fields(config.template)
        self.hash = short_hash(config.template)

    def required_columns(self) -> list[str]:
        return list(self.fields)

    def run(self, items: list[RowItem]) -> list[list[Candidate]]:
        return [self._render(item.row) for item in items]

    def _render(self, row: dict[str, Any]) -> list[Candidate]:
        values = {name: _field_value(row.get(name)) for name in self.fields}
        if any(value is None for value in values.values()):
            return []
        model = f"template:{self.hash}"
        try:
            text = normalize_text(self.config.template.format(**values))
        except (ValueError, TypeError, KeyError, IndexError) as exc:  # a format spec that does not fit the value
            return [self.failure(describe_error(exc), model)]
        return [self.candidate(text, model, self.hash)] if text else []


def _field_value(value: Any) -> Any:
    """Strings are normalised (NFC, spaces); an empty or missing value makes the template not apply."""
    if value is None:
        return None
    if isinstance(value, str):
        return normalize_text(value) or None
    return value


@dataclass
class AltTextConfig:
    """``alt_text``: reuse a cleaned alt text whose script matches the caption language."""

    column: str = "alt_text"
    max_chars: int = 300
    min_script_share: float = 0.5  # share of letters in the language's script (see kdata.textnorm)
    on_missing_column: str = "error"

    def __post_init__(self) -> None:
        _check_missing_mode(self.on_missing_column)
        if not 0.0 < self.min_script_share <= 1.0:
            raise ValueError(f"min_script_share must be in (0, 1], got {self.min_script_share}")


@BACKENDS.register("alt_text")
class AltTextBackend(Backend):
    source = Source.ALT_TEXT
    config_cls = AltTextConfig

    def required_columns(self) -> list[str]:
        return [self.config.column]

    def run(self, items: list[RowItem]) -> list[list[Candidate]]:
        config: AltTextConfig = self.config
        out: list[list[Candidate]] = []
        for item in items:
            text = clean_alt_text(item.row.get(config.column), config.max_chars)
            usable = text is not None and detect_language(text, config.min_script_share) == self.language
            out.append([self.candidate(text, f"column:{config.column}")] if usable else [])
        return out
