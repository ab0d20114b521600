"""Loading caption models the way every kcli model loads: preset name or Hub id or folder, fp32 on CPU.

Every model backend (captioners, translators, the CLIP re-ranker) takes ``device = "auto"`` by default:
the GPU the worker sees where there is one (with ``--executor ray`` the actor asks Ray for one only
where the cluster has GPUs), else the CPU, as ``[clip] device`` does for ``kcli filter``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.resolve import load_errors, resolve_model, torch_device

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(device: str) -> None:
    """Refuse a device setting other than ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (with a fix-it message)."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")


def resolve_device(device: str) -> str:
    """``auto``: ``cuda`` where torch sees a GPU, else ``cpu``; any other setting as it is."""
    return torch_device(device)


def load_pretrained(spec: str, family: str, model_class: str, processor_class: str, device: str) -> tuple[Any, Any]:
    """(model in eval mode, processor) via transformers' Auto classes on ``device`` (``auto`` resolved);
    errors name ``spec`` in one line."""
    torch = require("torch", "torch")
    device = resolve_device(device)
    transformers = require("transformers", "transformers")
    path = resolve_model(spec, family=family)
    with load_errors(spec, f"{family} model"):
        # transformers 5 loads a checkpoint in its own dtype by default; kcli's CPU path is fp32 only.
        dtype = torch.float32 if device == "cpu" else "auto"
        model = getattr(transformers, model_class).from_pretrained(path, dtype=dtype)
        processor = getattr(transformers, processor_class).from_pretrained(path)
    model.to(device).eval()
    return model, processor


@contextlib.contextmanager
def inference(seed: int | None = None) -> Iterator[None]:
    """No gradients; with ``seed``, torch's RNG seeded for the block (sampling that re-runs identically)."""
    torch = require("torch", "torch")
    with torch.inference_mode():
        if seed is None:
            yield
        else:
            with seeded_torch(seed):
                yield


def seed_from_keys(keys: list[str]) -> int:
    """A seed that depends only on which rows are in a batch, so a resumed run samples the same captions."""
    import hashlib

    return int.from_bytes(hashlib.sha256("\n".join(keys).encode()).digest()[:4], "big")
