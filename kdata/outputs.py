"""The folders kcli writes: which ones it may delete, which ones it may not write into, one run at a time.

Three rules, shared by every command that writes an output folder (the stage runner, crawl, publish's
export, report, the trainers, ``eval t2i``):

- An output is never an input: ``--out`` may not be an input (manifest, blob store, input folder or file),
  lie inside one, or contain one (:func:`check_out_vs_inputs`). Otherwise ``--overwrite`` would delete the
  input, and a folder ingest would read its own output.
- ``--overwrite`` deletes only a folder kcli marked as its own output (:func:`remove_own_output`). kcli marks
  a folder (:data:`MARKER`, a small JSON file with a format tag) when it creates it or finds it empty
  (:func:`claim_output`); a folder that merely looks like an output (a ``_work`` folder, a
  ``manifest.json``) is not one, and it is never marked afterwards, so the user's files in it stay safe.
- One run per output at a time (:func:`output_lock`): an exclusive ``flock`` on :data:`LOCK` for the run's
  duration. The kernel releases it when the process dies, even by ``kill -9``, so re-running the command
  after a crash resumes as before. The lock file is never deleted (``--overwrite`` empties the folder
  around it): a run holding a lock on a deleted file would let a second run lock a new one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kdata.atomic import write_json_atomic
from kdata.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, runs into one --out are not kept apart
    fcntl = None  # type: ignore[assignment]

MARKER = ".kcli-output.json"
LOCK = ".kcli-lock"
FORMAT = "kcli-output/1"
HOUSEKEEPING = frozenset({MARKER, LOCK})


def check_out_vs_inputs(out: str | os.PathLike[str], inputs: Iterable[object],
                        flag: str = "--out") -> None:
    """Refuse an output that is one of ``inputs``, lies inside one, or contains one.

    ``None`` entries are skipped, and so is anything that is not a path (a blob dir the descriptor lists but
    kcli refused to read, :class:`kdata.blobs.RefusedBlobDir`: nothing is read from it, so nothing to protect).
    """
    target = Path(out).resolve()
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)) or str(item) == "":
            continue
        source = Path(item).resolve()
        if source == target:
            relation = "is"
        elif source in target.parents:
            relation = "is inside"
        elif target in source.parents:
            relation = "contains"
        else:
            continue
        raise ConfigError(f"{flag} {target} {relation} the input {source}; write the output to a folder "
                          "outside the input")


def local_paths(values: Iterable[str | os.PathLike[str] | None]) -> list[Path]:
    """The ``values`` that name an existing file or folder (a model given as a preset name or a Hub id is not)."""
    return [Path(v) for v in values if v is not None and str(v) != "" and Path(v).exists()]


def is_own_output(out: Path) -> bool:
    """Whether ``out`` carries kcli's output marker."""
    try:
        data = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def user_entries(out: Path) -> list[Path]:
    """What ``out`` holds besides kcli's marker and lock ([] when it does not exist)."""
    if not out.is_dir():
        return [out] if out.exists() else []
    return sorted(p for p in out.iterdir() if p.name not in HOUSEKEEPING)


def check_writable_output(out: Path, what: str = "kcli output") -> None:
    """Refuse to write into ``out`` unless it is new, empty, or kcli's own output."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; choose a new or empty --out directory")
    if user_entries(out) and not is_own_output(out):
        raise ConfigError(f"{out} exists and is not a {what}; choose an empty or new --out directory")


def claim_output(out: Path, kind: str) -> bool:
    """Mark ``out`` as kcli's ``kind`` output when it is new, empty or already marked; return whether it is now.

    A folder that already holds other files is left unmarked, so a later ``--overwrite`` refuses it."""
    if is_own_output(out):
        return True
    if user_entries(out):
        return False
    mark_output(out, kind)
    return True


def mark_output(out: Path, kind: str) -> None:
    """Mark ``out`` as kcli's output whatever it holds: only for a folder kcli made and filled itself (a staging
    folder about to be renamed into place); anywhere else use :func:`claim_output`."""
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / MARKER, {"format": FORMAT, "kind": kind,
                                     "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def remove_own_output(out: Path) -> None:
    """Empty ``out`` for ``--overwrite``, when kcli marked it as its output; refuse anything else.

    The lock file stays; the marker goes last, so an interrupted removal leaves a folder that is still
    recognisably kcli's."""
    check_overwritable(out)
    for path in user_entries(out):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    (out / MARKER).unlink(missing_ok=True)


def check_overwritable(out: Path) -> None:
    """Refuse ``--overwrite`` of ``out`` unless it is new, empty, or kcli marked it as its output."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"refusing to --overwrite {out}: it is a file, not a kcli output folder")
    if user_entries(out) and not is_own_output(out):
        raise ConfigError(f"refusing to --overwrite {out}: it is not a kcli output directory (no {MARKER}); "
                          "delete it yourself or choose another --out")


def prepare_output(out: Path, kind: str, overwrite: bool, what: str = "kcli output") -> None:
    """The usual start of a run into ``out``: refuse a foreign folder, empty it on ``overwrite``, mark it."""
    check_writable_output(out, what)
    if overwrite:
        remove_own_output(out)
    claim_output(out, kind)


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the block (creating ``out``); a second run into it fails at once, naming the PID."""
    out.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            pid = f" (PID {holder})" if holder.isdigit() else ""
            raise ConfigError(f"another kcli run{pid} is writing into {out}; wait for it to finish or choose "
                              "another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the kernel does the same when the process dies
