"""Where kcli keeps what it builds or caches on this machine (tiny model presets, for now)."""

from __future__ import annotations

import os
from pathlib import Path

# One environment variable moves everything, so tests and CI can point it at a throw-away directory.
KCLI_HOME_ENV = "KCLI_HOME"


def kcli_home() -> Path:
    """The kcli cache root: `$KCLI_HOME`, or `~/.cache/kcli` when it is unset or empty."""
    configured = os.environ.get(KCLI_HOME_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "kcli"


def presets_dir() -> Path:
    """The directory holding one sub-directory per built tiny preset."""
    return kcli_home() / "presets"
