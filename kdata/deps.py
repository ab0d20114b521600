"""Lazy imports of heavy optional libraries, failing with the exact install command.

The one place kdata and ktrain import an optional dependency (torch, transformers, open_clip, ...):

- :func:`require` imports a module on first use, so ``kcli --help`` and light stages never pay for
  torch, and a missing package fails with ``pip install <name>`` instead of a bare ImportError.
- :func:`seeded_torch` runs a block under a fixed torch seed without disturbing the caller's RNG
  (tiny presets are built from seeded random weights).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

from kdata.errors import MissingDependencyError


def require(module: str, pip_name: str) -> ModuleType:
    """Import `module`, or raise MissingDependencyError saying `pip install <pip_name>`.

    Only a missing top-level package is turned into that message: an ImportError raised *inside* an
    installed package (for example a torchvision built for another torch) is a broken environment, and
    hiding it behind "please install" would send the user the wrong way.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0]:
            raise
        raise MissingDependencyError(
            f"the Python package {pip_name!r} is needed here; install it with: pip install {pip_name}"
        ) from None


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Run a block with torch's CPU RNG seeded, then give the caller its RNG state back.

    Presets are built from random weights; seeding makes two builds byte-identical, and forking the RNG
    keeps building a preset from changing the random stream of whatever code asked for it.
    """
    torch = require("torch", "torch")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def hub_transport_errors() -> tuple[type[BaseException], ...]:
    """The connection failures of huggingface_hub's HTTP client (httpx2 under huggingface_hub 2.x, httpx
    under 1.x), whichever is installed; callers add the OS errors they also treat as "unreachable"."""
    errors: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        errors.append(module.TransportError)
    return tuple(errors)
