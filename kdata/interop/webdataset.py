"""Webdataset tar shards, both ways: an index of samples for import, and a size-sharded writer for export.

Webdataset groups a tar's members into samples by key: a member's key is its path up to the first dot
of its file name, the rest is the extension (``a/000001.jpg`` and ``a/000001.txt`` are sample
``a/000001``). The reader records each image member's offset and size inside the tar, so a worker reads
exactly those bytes later and nothing is copied twice; the writer keeps keys as they are (a dot in a
manifest key would move the split point, so it becomes ``_`` there and the original key goes in the
``.json``).
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.atomic import temporary_sibling
from kdata.jsondepth import DEFAULT_MAX_JSON_DEPTH, json_too_deep

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff")
TEXT_EXTENSIONS = ("txt", "caption", "text")
MAX_TEXT_BYTES = 1 << 20  # a caption or JSON member larger than this is not read into the staged rows
TAR_MTIME = 0  # fixed member times: the same rows give byte-identical shards


@dataclass
class TarSample:
    """One sample of a tar shard: where its image bytes lie, its caption and its JSON metadata."""

    key: str
    shard: str
    image_ext: str | None = None
    offset: int = 0
    size: int = 0
    caption: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    fail: str | None = None


def split_name(name: str) -> tuple[str, str]:
    """Webdataset's split of a member path into (key, extension): at the first dot of the file name."""
    directory, base = posixpath.split(name)
    stem, _, ext = base.partition(".")
    return posixpath.join(directory, stem) if directory else stem, ext.lower()


def read_tar_index(path: Path, max_json_depth: int = DEFAULT_MAX_JSON_DEPTH) -> list[TarSample]:
    """The samples of one tar, in member order; a broken archive ends with a failed sample, never a crash."""
    samples: dict[str, TarSample] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if member.isfile():
                    _add_member(samples, tar, member, path.name, max_json_depth)
    except (tarfile.TarError, OSError, EOFError) as exc:
        key = f"{path.name}#broken"
        samples[key] = TarSample(key, path.name, fail=f"broken_archive:{type(exc).__name__}")
    return list(samples.values())


def _add_member(samples: dict[str, TarSample], tar: tarfile.TarFile, member: tarfile.TarInfo, shard: str,
                max_json_depth: int) -> None:
    key, ext = split_name(member.name)
    if not ext or posixpath.basename(key).startswith("."):
        return  # webdataset skips members without an extension; hidden files are not samples
    sample = samples.setdefault(key, TarSample(key, shard))
    if ext in IMAGE_EXTENSIONS:
        if sample.image_ext is None or ext == "jpg":
            sample.image_ext, sample.offset, sample.size = ext, member.offset_data, member.size
    elif ext in TEXT_EXTENSIONS and member.size <= MAX_TEXT_BYTES and sample.caption is None:
        sample.caption = _read_text(tar, member)
    elif ext == "json" and member.size <= MAX_TEXT_BYTES:
        sample.meta, fail = _parse_meta(_read_text(tar, member), max_json_depth)
        sample.fail = sample.fail or fail


def _read_text(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle = tar.extractfile(member)
    return handle.read().decode("utf-8", "replace") if handle is not None else ""


def _parse_meta(text: str, max_depth: int) -> tuple[dict[str, Any], str | None]:
    if json_too_deep(text, max_depth):
        return {}, f"bad_sidecar:too_deep(max_json_depth={max_depth})"
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return {}, f"bad_sidecar:{type(exc).__name__}"
    return (data, None) if isinstance(data, dict) else ({}, "bad_sidecar:not_an_object")


def read_member_bytes(path: str, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset`` of a file (a tar member's data), or the whole file when ``size`` < 0."""
    with open(path, "rb") as handle:
        if size < 0:
            return handle.read()
        handle.seek(offset)
        data = handle.read(size)
    if len(data) != size:
        raise EOFError(f"{path}: {size} bytes at {offset} wanted, {len(data)} there")
    return data


def wds_key(key: str) -> str:
    """A manifest key as a webdataset key: no dot in the file name part (it would split the key), and no
    empty, ``.`` or ``..`` part (a tar member that climbs out of the folder it is extracted into)."""
    parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".", "..")] or ["_"]
    parts[-1] = parts[-1].replace(".", "_")
    return "/".join(parts)


class TarShardWriter:
    """Writes samples into ``<prefix>-NNNNNN.tar`` files of at most about ``max_bytes`` each.

    Each shard is written to a temporary sibling and renamed when full (:mod:`kdata.atomic`), so a shard
    name that exists is a whole shard."""

    def __init__(self, folder: Path, max_bytes: int, prefix: str = "shard") -> None:
        self.folder, self.max_bytes, self.prefix = folder, max_bytes, prefix
        self.files: list[str] = []
        self._tmp: Path | None = None
        self._handle: Any = None
        self._tar: tarfile.TarFile | None = None

    def write(self, key: str, members: dict[str, bytes]) -> None:
        """Add one sample (``{extension: bytes}``); a new shard starts when this one is full."""
        size = sum(len(v) + 1024 for v in members.values())  # a header block per member, rounded up
        if self._tar is not None and self._handle.tell() + size > self.max_bytes:
            self._close_shard()
        if self._tar is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._tmp = temporary_sibling(self.folder / self._name())
            self._handle = open(self._tmp, "wb")  # noqa: SIM115 - open across calls, closed in _close_shard
            self._tar = tarfile.open(fileobj=self._handle, mode="w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
        for ext, data in members.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), TAR_MTIME, 0o644
            self._tar.addfile(info, io.BytesIO(data))

    def _name(self) -> str:
        return f"{self.prefix}-{len(self.files):06d}.tar"

    def _close_shard(self) -> None:
        assert self._tar is not None and self._tmp is not None
        self._tar.close()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        name = self._name()
        os.replace(self._tmp, self.folder / name)
        self.files.append(name)
        self._tar, self._handle, self._tmp = None, None, None

    def close(self) -> list[str]:
        if self._tar is not None:
            self._close_shard()
        return self.files

    def abort(self) -> None:
        """Drop the shard being written (after an error); the finished ones stay."""
        if self._handle is not None:
            self._handle.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._tar, self._handle, self._tmp = None, None, None


def iter_tar_paths(root: Path) -> Iterator[Path]:
    """The ``.tar`` files of a folder (sorted, hidden ones skipped), or the file itself."""
    if root.is_file():
        yield root
        return
    yield from sorted(p for p in root.rglob("*.tar") if not any(part.startswith(".") for part in
                                                                   p.relative_to(root).parts))
