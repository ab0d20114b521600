"""Running the command line as a user does: ``python -m kcli`` in a subprocess, on this checkout, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def subprocess_env(extra: Mapping[str, str] | None = None, unset: Iterable[str] = ()) -> dict[str, str]:
    """This environment for a child process, less ``unset``: this checkout first on the import path, the Hub
    offline and a terminal wide enough that a one-line error stays one line; ``extra`` adds or overrides."""
    kept = {name: value for name, value in os.environ.items() if name not in set(unset)}
    return {**kept, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "COLUMNS": "160", **(extra or {})}


def python(*args: str, env: Mapping[str, str] | None = None, unset: Iterable[str] = (),
           timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in this checkout, to the end, its output captured as text; ``env`` and ``unset`` as in
    :func:`subprocess_env`."""
    return subprocess.run([sys.executable, *args], cwd=REPO, env=subprocess_env(env, unset), capture_output=True,
                          text=True, timeout=timeout)


def kcli(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """``python -m kcli ARGS`` to the end; ``options`` as for :func:`python`."""
    return python("-m", "kcli", *args, **options)


def python_popen(*args: str, env: Mapping[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """``python ARGS`` started in the background; ``popen`` (stdout, stderr, text…) goes to ``subprocess.Popen``."""
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=subprocess_env(env), **popen)


def kcli_popen(*args: str, env: Mapping[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """``python -m kcli ARGS`` started in the background, as :func:`python_popen`."""
    return python_popen("-m", "kcli", *args, env=env, **popen)
