"""The caption config: for each language, backends in order of preference, plus optional CLIP re-ranking.

A TOML file lists one array of tables per language; each table names a registered backend and that
backend's own settings (unknown keys are errors, like every kcli config)::

    [[ko]]
    backend = "template"
    template = "{paper_type}, {method}, {caption_ko}"

    [[ko]]
    backend = "alt_text"

    [[ko]]
    backend = "translate"
    model = "facebook/nllb-200-distilled-600M"
    source = "en"

For each row the first backend that yields a caption wins (``collect = "first"``, the default), so a
costly model only runs on rows that the cheaper backends before it could not caption. ``collect = "all"``
runs every backend on every row and keeps all candidates in ``caption_<lang>_candidates``; a language
listed under ``[rerank]`` also runs every backend and lets CLIP pick among the candidates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kdata.caption.backends.loading import check_device
from kdata.config import AtLeastOne, from_dict, layered_settings
from kdata.errors import ConfigError

LANGUAGES = ("en", "ko")
COLLECT_MODES = ("first", "all")
CLIP_LIBRARIES = ("hf", "open_clip")


@dataclass
class RerankConfig:
    """CLIP re-ranking of caption candidates, the LAION-COCO recipe (Schuhmann et al., 2022, laion.ai/blog/laion-coco):
    generate several captions per image, keep the one CLIP finds most similar to the image."""

    model: str
    # "hf": a transformers CLIPModel (Hub id, folder, tiny-clip); "open_clip": MODEL:PRETRAINED
    library: Literal["hf", "open_clip"] = "hf"
    languages: list[Literal["en", "ko"]] = field(default_factory=lambda: ["en"])
    batch_size: AtLeastOne = 32
    device: str = "auto"  # a GPU where the worker has one, else the CPU

    def __post_init__(self) -> None:
        check_device(self.device)  # library and languages are checked by their types (kdata.config)


@dataclass
class CaptionConfig:
    """Backends per language (raw tables, checked by :func:`kdata.caption.plan.build_backends`)."""

    en: list[dict[str, Any]] = field(default_factory=list)
    ko: list[dict[str, Any]] = field(default_factory=list)
    collect: Literal["first", "all"] = "first"
    rerank: RerankConfig | None = None

    def __post_init__(self) -> None:
        if not self.en and not self.ko:
            raise ValueError("no backends: add at least one [[en]] or [[ko]] table")

    def chain(self, language: str) -> list[dict[str, Any]]:
        return list(getattr(self, language))

    def collects_all(self, language: str) -> bool:
        return self.collect == "all" or self.reranks(language)

    def reranks(self, language: str) -> bool:
        return self.rerank is not None and language in self.rerank.languages


@dataclass
class CaptionPlan:
    """What the stage runs: the config, where it came from, and backends left out for missing columns.

    This is what the runner records in the output's lineage and compares on resume.
    """

    config: CaptionConfig
    config_file: str | None = None
    skipped: list[str] = field(default_factory=list)  # "ko[0]" entries whose columns the manifest lacks


def load_caption_config(path: str | Path, sets: list[str] | None = None) -> CaptionConfig:
    """Read and check a caption config file with ``--set`` items on top (``--set rerank.batch_size=8``, as
    :mod:`kdata.config` layers them); every problem is a one-line :class:`ConfigError`."""
    data = layered_settings(CaptionConfig, path, sets=sets)
    return caption_config_from_dict(data, where=str(path))


def caption_config_from_dict(data: dict[str, Any], where: str = "caption config") -> CaptionConfig:
    for language in LANGUAGES:
        tables = data.get(language, [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ConfigError(f"{where}: '{language}' must be an array of tables ([[{language}]] blocks)")
    config = from_dict(CaptionConfig, data, where)
    # Checked here, before any model loads, so a typo in the last backend fails as fast as one in the first.
    from kdata.caption.plan import check_backend_tables

    check_backend_tables(config, where)
    return config


def plan_to_dict(plan: CaptionPlan) -> dict[str, Any]:
    return dataclasses.asdict(plan)
