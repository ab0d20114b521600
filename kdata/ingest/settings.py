"""Ingest configs from their layers: defaults < a TOML file (``--config``) < command-line options.

Command-line options arrive flat (``image_size``, ``read_timeout``); the configs nest the image and
fetch settings, so flat names are routed to their section here. Paths are resolved so the lineage
records where the input really was.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from kdata.config import from_dict, load_toml
from kdata.errors import ConfigError
from kdata.ingest.crop import CropConfig
from kdata.ingest.fetch import FetchConfig
from kdata.ingest.folder import FolderIngestConfig
from kdata.ingest.imaging import ImageOptions
from kdata.ingest.mapping import load_mapping
from kdata.ingest.readers import read_url_list
from kdata.ingest.urls import UrlIngestConfig

C = TypeVar("C")
SECTIONS = {"image": ImageOptions, "fetch": FetchConfig}


def _layered(cls: type[C], file: Path | None, options: dict[str, Any], where: str) -> C:
    data: dict[str, Any] = load_toml(file) if file else {}
    for name, value in options.items():
        if value is None:
            continue
        section = next((s for s, section_cls in SECTIONS.items() if name in _field_names(section_cls)), None)
        if section is not None and section in _field_names(cls):
            data.setdefault(section, {})[name] = value
        else:
            data[name] = value
    return from_dict(cls, data, where=str(file) if file else where)


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def url_config(input_path: Path, options: dict[str, Any], file: Path | None = None) -> UrlIngestConfig:
    if not input_path.is_file():
        raise ConfigError(f"no such input file: {input_path}")
    config = _layered(UrlIngestConfig, file, {**options, "input": str(input_path.resolve())}, "ingest urls")
    # A bad format or a missing column fails here, before anything is written: read the first batch.
    next(iter(read_url_list(input_path, config.url_col, config.caption_col, config.input_format)), None)
    return config


def folder_config(root: Path, options: dict[str, Any], file: Path | None = None) -> FolderIngestConfig:
    if not root.is_dir():
        raise ConfigError(f"no such folder: {root}")
    mapping_name = options.pop("mapping", None)
    for key in ("metadata", "sidecar_dir"):
        if options.get(key) is not None:
            options[key] = str(Path(options[key]).resolve())
    config = _layered(FolderIngestConfig, file, {**options, "root": str(root.resolve())}, "ingest folder")
    if mapping_name is not None:
        config.mapping_name = mapping_name
    if config.mapping_name:
        config.mapping = load_mapping(config.mapping_name)
    return config


def crop_config(options: dict[str, Any], file: Path | None = None) -> CropConfig:
    return _layered(CropConfig, file, options, "ingest crop")
