"""Remote paths (``s3://``, ``gs://``, ``hf://``, ``memory://`` ...) for stage inputs and outputs, via fsspec.

A stage's code works on local folders: it locks its output with ``flock``, renames temporary files into
place and checks that an output never lies inside an input. None of that exists on an object store, so a
remote path is mirrored through a local working copy under the kcli home:

- an **input** (a manifest, a folder of images, a tar shard) is downloaded once into
  ``$KCLI_HOME/remote/in/<hash>/<name>`` (:func:`local_input`), and read from there; a later run refreshes
  the copy, so a changed remote input is seen (and the usual fingerprints refuse a changed one on resume);
- an **output** is built in ``$KCLI_HOME/remote/out/<hash>/<name>`` (:func:`remote_output`). An earlier
  remote output is downloaded first, so a re-run resumes from what the store holds. When the stage
  finishes, every file is uploaded and the descriptor (``manifest.json``, or the export's record) goes
  last: a reader that finds the descriptor finds every file it lists. Each file is written to a
  temporary name and moved into place where the filesystem can move (local, ``memory://``, HDFS ...);
  on S3 and GCS one PUT is already atomic per object (it appears whole or not at all), so files are
  written in place there, which is what their ``mv`` (a copy then a delete) would cost twice over.

Local paths never come here: :func:`is_remote` is false for them, and every local path keeps the checks
of :mod:`kdata.outputs` (no output inside an input, ``--overwrite`` only of kcli's own folders, one run
at a time). Protocols need their fsspec implementation installed: ``s3fs`` for ``s3://`` (the ``[s3]``
extra), ``gcsfs`` for ``gs://``; ``hf://`` comes with ``huggingface_hub``, ``memory://`` with fsspec.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError

PROTOCOL_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "hf": "huggingface_hub"}
# Object stores whose single-object writes are atomic and whose "move" is copy + delete.
NO_MOVE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "hf", "az", "abfs", "abfss", "http", "https"})
LAST_FILES = ("manifest.json", "kcli_export.json")  # descriptors: uploaded after every file they describe


# A URL after ``pathlib.Path`` collapsed its "//" (the command line's path options): ``s3:/bucket/key``.
_COLLAPSED = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/(?!/)(.*)$")


def as_url(path: object) -> str | None:
    """``path`` as a remote URL, or None when it is local (a plain path, ``file://``).

    A ``Path`` made from a URL (``Path("s3://b/k")`` is ``s3:/b/k``) is turned back into the URL when the
    protocol is one fsspec knows, so commands whose options are typed as paths take URLs too."""
    if not isinstance(path, (str, os.PathLike)):
        return None
    text = os.fspath(path)
    if not isinstance(text, str):
        return None
    if "://" in text:
        return None if text.split("://", 1)[0].lower() in ("file", "local") else text
    match = _COLLAPSED.match(text)
    if match is None or match.group(1).lower() in ("file", "local"):
        return None
    from fsspec.registry import known_implementations

    return f"{match.group(1)}://{match.group(2)}" if match.group(1).lower() in known_implementations else None


def is_remote(path: object) -> bool:
    """Whether ``path`` is a URL with an fsspec protocol other than the local filesystem."""
    return as_url(path) is not None


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it; a missing implementation is a one-line error."""
    import fsspec

    protocol = url.split("://", 1)[0].lower()
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError:
        package = PROTOCOL_PACKAGES.get(protocol, f"the fsspec implementation of {protocol}://")
        hint = " (the [s3] extra)" if package == "s3fs" else ""
        raise ConfigError(f"{url}: {protocol}:// paths need {package}{hint}; install it with "
                          f"`pip install {package}`") from None
    except ValueError as exc:
        raise ConfigError(f"{url}: {exc}") from None


def _cache_dir(kind: str, url: str) -> Path:
    from kdata.models.home import kcli_home

    digest = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]
    name = posixpath.basename(url.rstrip("/")) or "root"
    return kcli_home() / "remote" / kind / digest / name


def local_input(path: str | os.PathLike[str]) -> Path:
    """A local path for an input: ``path`` itself when local, else a fresh local copy of the remote file or folder."""
    url = as_url(path)
    if url is None:
        return Path(path)
    fs, inner = filesystem(url)
    if not fs.exists(inner):
        raise ConfigError(f"no such file or folder: {url}")
    target = _cache_dir("in", url)
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if fs.isdir(inner):
        _download_tree(fs, inner, target)
    else:
        fs.get_file(inner, str(target))
        keep_mtime(fs, inner, target)
    return target


def _download_tree(fs: Any, inner: str, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    root = inner.rstrip("/")
    for name in sorted(fs.find(root)):
        rel = posixpath.relpath(name, root)
        if rel.startswith(".."):
            continue  # a listing that strays outside the folder is not followed
        local = target / rel
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(name, str(local))
        keep_mtime(fs, name, local)


def keep_mtime(fs: Any, name: str, local: Path) -> None:
    """Give the copy the remote file's modification time (0 when the store has none).

    Stages fingerprint their input by names, sizes and times to notice a changed input on resume; a fresh
    copy's own time would make every re-run look like a new input."""
    info = fs.info(name)
    stamp = next((info[k] for k in ("mtime", "LastModified", "last_modified", "updated", "created")
                  if info.get(k) is not None), 0)
    if hasattr(stamp, "timestamp"):
        stamp = stamp.timestamp()
    try:
        stamp = float(stamp)
    except (TypeError, ValueError):
        stamp = 0.0
    os.utime(local, (stamp, stamp))


@contextmanager
def remote_output(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a local folder to build the output in; upload it to ``path`` when the block ends without error.

    For a local ``path`` this yields ``Path(path)`` and does nothing else. For a remote one, an earlier
    output there is downloaded first (unless ``overwrite``), so the stage resumes from it."""
    url = as_url(path)
    if url is None:
        yield Path(path)
        return
    fs, inner = filesystem(url)
    local = _cache_dir("out", url)
    if local.exists():
        shutil.rmtree(local)
    if fs.exists(inner) and not overwrite:
        _download_tree(fs, inner, local)
    if overwrite and fs.exists(inner):
        fs.rm(inner, recursive=True)
    try:
        yield local
    except BaseException:
        # What finished (shards and their done markers) goes up without the descriptors, so the same command
        # resumes from it, here or on another machine; the store never shows a descriptor for a partial run.
        upload_tree(local, url, descriptors=False)
        raise
    upload_tree(local, url)


def upload_tree(local: Path, url: str, descriptors: bool = True) -> list[str]:
    """Upload every file under ``local`` to ``url``, descriptors last (or not at all); return the relative paths."""
    fs, inner = filesystem(url)
    root = inner.rstrip("/")
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    files = [f for f in files if not f.endswith(".kcli-lock") and not posixpath.basename(f).startswith(".") or
             f.endswith(".kcli-output.json")]
    last = [f for f in files if f in LAST_FILES] if descriptors else []
    ordered = [f for f in files if f not in LAST_FILES] + last
    movable = fs_protocol(fs) not in NO_MOVE_PROTOCOLS
    for rel in ordered:
        put_file(fs, local / rel, f"{root}/{rel}", movable)
    return ordered


def fs_protocol(fs: Any) -> str:
    protocol = fs.protocol
    return (protocol[0] if isinstance(protocol, (tuple, list)) else protocol).lower()


def put_file(fs: Any, source: Path, target: str, movable: bool) -> None:
    """Write one file: to a temporary sibling then moved into place where the filesystem can move."""
    parent = posixpath.dirname(target)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    if not movable:
        fs.put_file(str(source), target)
        return
    tmp = f"{parent}/.{posixpath.basename(target)}.tmp-{os.getpid()}"
    fs.put_file(str(source), tmp)
    if fs.exists(target):
        fs.rm(target)
    fs.mv(tmp, target)


def local_inputs(values: Sequence[str | os.PathLike[str] | None]) -> list[str | os.PathLike[str]]:
    """The local ones of ``values`` (remote inputs cannot overlap a local output, so checks skip them)."""
    return [v for v in values if v is not None and not is_remote(v)]
