"""Which layout a source has, for ``kcli import --format auto``: one look at its files, one line when unknown."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kdata.errors import ConfigError

FORMATS = ("img2dataset", "webdataset", "hf", "kohya", "parquet")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
IMG2DATASET_COLUMNS = frozenset({"key", "status", "jpg"})
IMG2DATASET_STATS = "*_stats.json"  # img2dataset's per-shard stats (00000_stats.json), its done markers
HF_MARKERS = ("dataset_dict.json", "state.json")  # what Dataset(Dict).save_to_disk writes
UNKNOWN = ("expected img2dataset output (00000.parquet or 00000.tar with 00000_stats.json), webdataset .tar "
           "shards, a Hugging Face dataset (a save_to_disk folder or a Hub id), a kohya folder (images with "
           "same-stem .txt captions) or Parquet with an image column; pass --format to say which")


def detect_layout(source: str, local: Path | None) -> str:
    """The format of ``source`` (``local`` is its local path, None when it names nothing on disk)."""
    if local is None or not local.exists():
        if HUB_ID.match(source):
            return "hf"
        raise ConfigError(f"no such file or folder: {source} (a Hub dataset id looks like ORG/NAME)")
    if local.is_file():
        return _file_layout(local)
    return _folder_layout(local)


def _file_layout(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".tar":
        return "webdataset"
    if suffix == ".parquet":
        return "img2dataset" if _is_img2dataset_parquet(path) else "parquet"
    raise ConfigError(f"cannot tell the layout of {path}: {UNKNOWN}")


def _folder_layout(root: Path) -> str:
    if any((root / name).is_file() for name in HF_MARKERS):
        return "hf"
    tars = sorted(root.glob("*.tar"))
    parquets = sorted(root.glob("*.parquet"))
    if tars:
        companion = any(t.with_suffix(".parquet").is_file() for t in tars)
        return "img2dataset" if companion or any(root.glob(IMG2DATASET_STATS)) else "webdataset"
    if parquets:
        return "img2dataset" if _is_img2dataset_parquet(parquets[0]) else "parquet"
    if any(root.rglob("*.tar")):
        return "webdataset"
    nested = sorted(root.rglob("*.parquet"))
    if nested:  # a Hub dataset repository's data/train-00000-of-00001.parquet
        return "parquet"
    from kdata.ingest.folder import list_images
    from kdata.interop.kohya import looks_like_kohya

    images = list_images(root)
    if images and looks_like_kohya(root, images):
        return "kohya"
    if images:
        raise ConfigError(f"{root} holds images but no same-stem .txt captions: use `kcli ingest folder` for "
                          "images with JSON sidecars or metadata.jsonl, or pass --format kohya")
    raise ConfigError(f"cannot tell the layout of {root}: {UNKNOWN}")


def _is_img2dataset_parquet(path: Path) -> bool:
    try:
        names = set(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError):
        raise ConfigError(f"{path} is not a readable Parquet file") from None
    return names >= IMG2DATASET_COLUMNS


def check_format(name: str) -> str:
    if name not in ("auto", *FORMATS):
        raise ConfigError(f"unknown --format {name!r}; valid formats: auto, {', '.join(FORMATS)}")
    return name
