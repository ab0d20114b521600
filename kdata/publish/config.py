"""Settings of an export: what goes into the published folder and how it is cut into files.

Filled defaults < a TOML file < named options < ``--set``, as :mod:`kdata.config` layers every config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.config import NonNegativeInt, PositiveFloat, layered_config
from kdata.errors import ConfigError

# ``datasets`` cuts ``push_to_hub`` uploads at 500 MB of uncompressed data per Parquet file
# (datasets.config.MAX_SHARD_SIZE); the Hub's viewer and ``load_dataset`` streaming both work well there.
DEFAULT_SHARD_SIZE_MB = 500
# Row groups of at most ~100 MB, also ``datasets``' choice (config.MAX_ROW_GROUP_SIZE): one row read
# from the viewer costs one row group.
ROW_GROUP_BYTES = 100 * 1024 * 1024
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class PublishConfig:
    keep_exif: bool = False  # EXIF/XMP/IPTC can hold GPS positions and owner names: stripped by default
    shard_size_mb: PositiveFloat = DEFAULT_SHARD_SIZE_MB
    repo_id: str | None = None  # shown in the card's loading snippet; required only to upload
    pretty_name: str | None = None
    sample_grid: NonNegativeInt = 16  # images in the card's sample grid

    def __post_init__(self) -> None:
        # Also checked here, not only by the field types: ``kcli publish`` builds this from its options directly.
        if self.shard_size_mb <= 0:
            raise ConfigError(f"--shard-size-mb must be positive, got {self.shard_size_mb}")
        if self.sample_grid < 0:
            raise ConfigError(f"sample_grid must be >= 0, got {self.sample_grid}")
        if self.repo_id is not None and not REPO_ID.match(self.repo_id):
            raise ConfigError(f"--repo-id must look like ORG/NAME (letters, digits, . _ -), got {self.repo_id!r}")

    @property
    def shard_bytes(self) -> int:
        return int(self.shard_size_mb * 1024 * 1024)


def publish_config(options: dict[str, Any], file: Path | None = None, sets: list[str] | None = None) -> PublishConfig:
    """Layer defaults < ``file`` < ``options`` (named options; ``None`` means unset) < ``sets`` (``--set`` items)."""
    return layered_config(PublishConfig, file, options, sets, where="publish")
