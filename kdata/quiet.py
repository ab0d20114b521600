"""Other libraries' progress bars off while kcli draws its own.

transformers, diffusers, huggingface_hub and datasets each draw tqdm bars while loading ("Loading pipeline
components...", "Loading weights", downloads, map/filter passes). Under kcli's own bars (one per stage phase,
see :mod:`kdata.progress`) they interleave with them and fill a log with carriage-return lines, so the command
line turns them off when a command starts. Library users are left alone: nothing here runs on import.

tqdm reads ``TQDM_DISABLE`` once, when it is first imported; the command line calls this before any heavy
import, so it covers every bar, also in worker processes (which inherit the environment). Libraries already
imported are told through their own switches as well. A diffusers pipeline's step bar is the exception: diffusers
passes ``disable=False`` itself, so each pipeline kcli builds sets ``set_progress_bar_config(disable=True)``.
"""

from __future__ import annotations

import os
import sys

# setdefault: a user who exported one of these keeps the value. (tqdm reads any TQDM_DISABLE value, "0"
# included, as true, so the way to keep every bar is KEEP_ENV=1.)
KEEP_ENV = "KCLI_THIRD_PARTY_PROGRESS"
ENVIRONMENT = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def silence_third_party_progress() -> None:
    """Turn off the progress bars of tqdm and of the Hugging Face libraries, in this process and its children."""
    if os.environ.get(KEEP_ENV) == "1":  # the user asked to see every bar
        return
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    _imported("huggingface_hub.utils", "disable_progress_bars")
    _imported("transformers.utils.logging", "disable_progress_bar")
    _imported("diffusers.utils.logging", "disable_progress_bar")
    _imported("datasets.utils.logging", "disable_progress_bar")


def _imported(module: str, switch: str) -> None:
    """Call ``module.switch()`` if the library is loaded already (importing it here would cost seconds)."""
    if module.split(".")[0] not in sys.modules:
        return
    import importlib

    getattr(importlib.import_module(module), switch, lambda: None)()
