"""From config tables to backend objects, and the checks that must pass before any work starts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Importing the modules registers their backends.
from kdata.caption.backends import deepl_api, image_models, text, translate, translate_lm  # noqa: F401
from kdata.caption.backends.base import BACKENDS, Backend
from kdata.caption.backends.translate import TranslatorBackend
from kdata.caption.config import LANGUAGES, CaptionConfig, CaptionPlan
from kdata.config import from_dict
from kdata.errors import ConfigError, ManifestSchemaError


def label_of(language: str, index: int, name: str) -> str:
    return f"{language}[{index}]:{name}"


def build_backend(table: dict[str, Any], language: str, index: int, where: str) -> Backend:
    """One backend object from its table (``backend = NAME`` plus that backend's settings)."""
    settings = dict(table)
    name = settings.pop("backend", None)
    if not isinstance(name, str):
        raise ConfigError(f"{where}: [[{language}]] block {index} has no 'backend = \"NAME\"'; "
                          f"valid names: {', '.join(BACKENDS.names())}")
    label = label_of(language, index, name)
    try:
        backend_cls = BACKENDS.get(name)
        config = from_dict(backend_cls.config_cls, settings, f"{where}: {label}")
        return backend_cls(config, language, label)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(where) else f"{where}: {label}: {message}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: {label}: {exc}") from None


def build_backends(config: CaptionConfig, where: str = "caption config", skipped: Iterable[str] = ()) -> dict[
    str, list[Backend]
]:
    """Backend objects per language, in order of preference, without the ``skipped`` labels. No model loads."""
    skip = set(skipped)
    chains: dict[str, list[Backend]] = {}
    for language in LANGUAGES:
        backends = [build_backend(t, language, i, where) for i, t in enumerate(config.chain(language))]
        chains[language] = [b for b in backends if b.label not in skip]
    return chains


def check_backend_tables(config: CaptionConfig, where: str) -> None:
    """Every table builds, and every translation has a direct caption to translate from."""
    problem = _translation_without_source(build_backends(config, where))
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")


def _translation_without_source(chains: dict[str, list[Backend]]) -> str | None:
    for chain in chains.values():
        for backend in chain:
            if not isinstance(backend, TranslatorBackend):
                continue
            source = backend.source_language
            if not any(not isinstance(b, TranslatorBackend) for b in chains[source]):
                return (f"{backend.label} translates from {source!r}, but [[{source}]] has no backend "
                        "other than translate to caption from")
    return None


def plan_for_columns(config: CaptionConfig, columns: Iterable[str], manifest: str, config_file: str | None = None
                     ) -> CaptionPlan:
    """Check the backends' columns against the manifest's, and what they need of this machine (an API
    key), before the run starts.

    A missing column stops here with a message naming it, unless that backend says
    ``on_missing_column = "skip"``: then it is left out, and the plan (recorded in the lineage) says so.
    """
    available = set(columns)
    skipped: list[str] = []
    for backend in (b for chain in build_backends(config).values() for b in chain):
        missing = [c for c in backend.required_columns() if c not in available]
        if not missing:
            backend.check_environment()
            continue
        if getattr(backend.config, "on_missing_column", "error") == "skip":
            skipped.append(backend.label)
            continue
        what = getattr(backend.config, "template", None)
        subject = f"template {what!r}" if what else f"backend {backend.label}"
        raise ManifestSchemaError(
            f"{backend.label}: {subject} needs column {missing[0]!r}, which {manifest} does not have "
            f"(it has: {', '.join(sorted(available))})"
        )
    plan = CaptionPlan(config, config_file, skipped)
    problem = _translation_without_source(build_backends(config, skipped=skipped))
    if problem is not None:
        raise ManifestSchemaError(f"{problem} once backends with missing columns are skipped ({', '.join(skipped)})")
    return plan
