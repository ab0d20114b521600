"""Ingest configs from their layers: defaults < a TOML file (``--config``) < named options < ``--set`` (kdata.config).

Command-line options arrive flat (``image_size``, ``read_timeout``); the configs nest the image and
fetch settings, so flat names are routed to their section here; ``--set`` keys name the section as the
file does (``--set image.image_size=512``). Paths are resolved so the lineage records where the input
really was.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from kdata.config import layered_config
from kdata.errors import ConfigError
from kdata.fspath import as_url, local_input
from kdata.ingest.crop import CropConfig
from kdata.ingest.fetch import FetchConfig
from kdata.ingest.folder import FolderIngestConfig
from kdata.ingest.imaging import ImageOptions
from kdata.ingest.mapping import load_mapping
from kdata.ingest.readers import read_url_list
from kdata.ingest.urls import UrlIngestConfig

C = TypeVar("C")
SECTIONS = {"image": ImageOptions, "fetch": FetchConfig}


def _layered(cls: type[C], file: Path | None, options: dict[str, Any], sets: list[str] | None, where: str) -> C:
    named: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        section = next((s for s, section_cls in SECTIONS.items() if name in _field_names(section_cls)), None)
        if section is not None and section in _field_names(cls):
            named.setdefault(section, {})[name] = value
        else:
            named[name] = value
    return layered_config(cls, file, named, sets, where)


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def url_config(input_path: Path, options: dict[str, Any], file: Path | None = None,
               sets: list[str] | None = None) -> UrlIngestConfig:
    url = as_url(input_path)  # a remote list is copied down, once here and once by the stage (kdata.fspath)
    local = local_input(input_path)
    if not local.is_file():
        raise ConfigError(f"no such input file: {input_path}")
    config = _layered(UrlIngestConfig, file, {**options, "input": url or str(local.resolve())}, sets, "ingest urls")
    # A bad format or a missing column fails here, before anything is written: read the first batch.
    next(iter(read_url_list(local, config.url_col, config.caption_col, config.input_format,
                            config.max_json_depth)), None)
    return config


def folder_config(root: Path, options: dict[str, Any], file: Path | None = None,
                  sets: list[str] | None = None) -> FolderIngestConfig:
    url = as_url(root)  # a remote folder is checked and read through a local copy (kdata.fspath)
    if url is None and not root.is_dir():
        raise ConfigError(f"no such folder: {root}")
    # --mapping names a mapping; the config's ``mapping`` field holds what that name resolves to.
    named = {key: value for key, value in options.items() if key != "mapping"}
    if options.get("mapping") is not None:
        named["mapping_name"] = options["mapping"]
    for key in ("metadata", "sidecar_dir"):
        if named.get(key) is not None:
            named[key] = str(Path(named[key]).resolve())
    config = _layered(FolderIngestConfig, file, {**named, "root": url or str(root.resolve())}, sets, "ingest folder")
    if config.mapping_name:
        config.mapping = load_mapping(config.mapping_name)
    return config


def crop_config(options: dict[str, Any], file: Path | None = None, sets: list[str] | None = None) -> CropConfig:
    return _layered(CropConfig, file, options, sets, "ingest crop")
