"""Lazy imports of heavy optional libraries, failing with the exact install command.

The one place kdata and ktrain import an optional dependency (torch, transformers, open_clip, ...):

- :func:`require` imports a module on first use, so ``kcli --help`` and light stages never pay for
  torch, and a missing package fails with the install command of the extra that carries it
  (``pip install 'kcli-korean[models]'``) instead of a bare ImportError.
- :func:`require_extra` lets a command that needs a whole extra (``kcli crawl``, ``kcli train lora``)
  fail in one line naming it before anything starts.
- :func:`seeded_torch` runs a block under a fixed torch seed without disturbing the caller's RNG
  (tiny presets are built from seeded random weights).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator
from types import ModuleType

from kdata.errors import MissingDependencyError

# The name kcli is published under (the command stays ``kcli``; the PyPI project called kcli is another one).
DISTRIBUTION = "kcli-korean"
# Each optional extra of pyproject.toml and the top-level modules kcli imports from it, in the order a
# missing one is reported. tests/packaging/test_dependencies.py keeps this and pyproject.toml in step.
EXTRAS: dict[str, tuple[str, ...]] = {
    "crawl": ("scrapy", "twisted", "scrapy_playwright", "playwright", "lxml", "w3lib", "protego"),
    "models": ("torch", "torchvision", "transformers", "open_clip", "safetensors", "tokenizers", "sentencepiece",
               "huggingface_hub"),
    "train": ("torch", "transformers", "safetensors", "huggingface_hub", "diffusers", "peft", "accelerate"),
    "serve": ("fastapi", "uvicorn", "pydantic", "torch", "diffusers", "peft"),
    "nsfw": ("nudenet", "onnxruntime", "cv2"),
    "publish": ("datasets", "huggingface_hub"),
    "deepl": ("deepl",),
    "ray": ("ray",),
    "s3": ("s3fs",),
    "tensorboard": ("tensorboard",),
    "index": ("faiss",),
    "qdrant": ("qdrant_client",),
}
# The smallest extra that carries a module (a module in several extras is reported with the first here).
_EXTRA_OF = {module: extra for extra, modules in reversed(EXTRAS.items()) for module in modules}
_EXTRA_OF.update({m: "models" for m in EXTRAS["models"]})


def install_command(extra: str) -> str:
    """The exact command that installs an extra: ``pip install 'kcli-korean[crawl]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require_extra(extra: str, command: str) -> None:
    """Raise one MissingDependencyError naming the extra when any module it provides is not installed.

    ``find_spec`` looks for the package without importing it, so the check costs milliseconds and a
    command whose extra is present pays nothing before its own (lazy) imports.
    """
    missing = [module for module in EXTRAS[extra] if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingDependencyError(
            f"{command} needs the {extra} extra ({missing[0]} is not installed): {install_command(extra)}"
        )


def require(module: str, pip_name: str) -> ModuleType:
    """Import `module`, or raise MissingDependencyError with the command that installs it: the extra
    that carries it (``pip install 'kcli-korean[models]'``), or ``pip install <pip_name>`` for a module
    no extra carries.

    Only a missing top-level package is turned into that message: an ImportError raised *inside* an
    installed package (for example a torchvision built for another torch) is a broken environment, and
    hiding it behind "please install" would send the user the wrong way.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0]:
            raise
        extra = _EXTRA_OF.get(module.split(".")[0])
        command = install_command(extra) if extra else f"pip install {pip_name}"
        raise MissingDependencyError(
            f"the Python package {pip_name!r} is needed here; install it with: {command}"
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
