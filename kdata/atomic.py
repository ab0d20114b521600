"""Atomic file writes: write to a temporary sibling, fsync, then rename over the target.

A reader (or a resumed run) therefore sees either the old file or the whole new one, never half.

Each call gets a temporary name of its own (process id and a random token), so threads and processes
writing the same target at once (two rows of one image stored as one content-addressed blob) never
share a temporary file: each renames a whole file of its own, and the last rename wins.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def temporary_sibling(target: Path) -> Path:
    """A hidden name next to ``target`` that no other thread or process uses: ``.NAME.tmp-PID-TOKEN``.

    The pid says which process left a file behind; the random token tells apart threads of one process
    and processes with the same pid on other machines writing to a shared filesystem (Ray workers).
    """
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(6)}")


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: Path, data: Any) -> None:
    write_text_atomic(target, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n")
