"""Pluggable NSFW scorers: each gives P(unsafe)-like scores in [0, 1] for a batch of rows.

- ``clip-nsfw-head``: LAION's CLIP-based NSFW detector, a small MLP over CLIP ViT-L/14 embeddings (the
  one LAION-5B's ``punsafe`` column came from), loaded from its weights file (:mod:`kdata.filter.heads`).
- ``nudenet``: NudeNet 3's detector (the nsfw extra: ``pip install 'kcli-korean[nsfw]'``), whose ONNX
  model ships inside the wheel, so it runs offline; the score is the highest confidence among its *exposed*
  body-part classes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kdata.deps import require
from kdata.errors import ConfigError
from kdata.registry import Registry

# NudeNet classes that make an image unsafe; covered parts, faces, feet, belly and armpits do not.
NUDENET_UNSAFE = frozenset({"FEMALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED", "MALE_GENITALIA_EXPOSED",
                            "BUTTOCKS_EXPOSED", "ANUS_EXPOSED"})
NUDENET_RESOLUTION = 320  # the packaged 320n.onnx's input side (NudeDetector's default)
NUDENET_BATCH = 16  # images per session.run


class SafetyScorer(Protocol):
    model_id: str

    def score(self, embeddings: np.ndarray | None, images: Sequence[bytes]) -> np.ndarray: ...


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    needs_clip: bool
    build: Callable[..., SafetyScorer]  # (weights, CLIP embedding dim, device=, batch_size=) -> scorer


SCORERS: Registry[ScorerSpec] = Registry("safety scorer")


class ClipNsfwHeadScorer:
    def __init__(self, weights: str, clip_dim: int | None, **_: Any) -> None:  # runs where the embeddings are
        from kdata.filter.heads import load_nsfw_head

        if not weights:
            raise ConfigError("safety scorer 'clip-nsfw-head' needs [safety] weights = PATH")
        self.head = load_nsfw_head(weights, clip_dim)
        self.model_id = f"clip-nsfw-head:{Path(weights).name}"

    def score(self, embeddings: np.ndarray | None, images: Sequence[bytes]) -> np.ndarray:
        assert embeddings is not None
        return self.head.score(embeddings)


class NudeNetScorer:
    """NudeNet's detector over a batch of images at a time, on the GPU where the worker has one.

    One ``session.run`` per ``batch_size`` images instead of one per image, and NudeNet's per-box Python loop
    vectorised (:mod:`kdata.filter.nudenet_boxes`); the detections equal NudeNet's per-image calls up to float
    rounding.
    """

    def __init__(self, weights: str = "", clip_dim: int | None = None, device: str = "auto",
                 batch_size: int = NUDENET_BATCH) -> None:
        nudenet = require("nudenet", "nudenet")
        onnxruntime = require("onnxruntime", "onnxruntime")
        from kdata.models.resolve import torch_device

        self.providers = onnx_providers(onnxruntime.get_available_providers(), torch_device(device).startswith("cuda"))
        # The packaged 320n.onnx unless a weights file (another NudeNet ONNX export) is given.
        model = weights or str(Path(nudenet.__file__).with_name("320n.onnx"))
        # kcli's own session, not a NudeDetector's: its constructor opens one with onnxruntime's default
        # providers (nudenet 3.4 ignores its ``providers`` argument), which leaves a GPU unused.
        self.session = onnxruntime.InferenceSession(model, session_options(onnxruntime), providers=self.providers)
        self.batch_size = batch_size
        self.model_id = f"nudenet:{Path(weights).name if weights else '320n'}"

    def detections(self, images: Sequence[bytes]) -> list[list[dict[str, Any]]]:
        from kdata.filter.nudenet_boxes import detect_batch

        return detect_batch(self.session, images, self.batch_size, NUDENET_RESOLUTION)

    def score(self, embeddings: np.ndarray | None, images: Sequence[bytes]) -> np.ndarray:
        scores = [max((float(d["score"]) for d in found if d.get("class") in NUDENET_UNSAFE), default=0.0)
                  for found in self.detections(images)]
        return np.asarray(scores, dtype=np.float32)


def session_options(onnxruntime: Any) -> Any:
    """onnxruntime's CPU threads without spin-waiting. By default its idle threads spin for work; with a filter's
    worker processes (or any other job) sharing the cores, the spinning threads took the cores from the ones
    computing: one 320 px NudeNet run measured 120-250 ms with spinning and 27-48 ms without, on 2 shared cores
    (bench/nudenet_batch.py prints both sides)."""
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                       else os.cpu_count() or 1)
    return options


def onnx_providers(available: Sequence[str], has_gpu: bool) -> list[str]:
    """CUDA first where onnxruntime was built with it and this worker has a GPU; the CPU always, as the fallback."""
    chosen = ["CUDAExecutionProvider"] if has_gpu and "CUDAExecutionProvider" in available else []
    return [*chosen, "CPUExecutionProvider"]


SCORERS.add("clip-nsfw-head", ScorerSpec("clip-nsfw-head", True, ClipNsfwHeadScorer))
SCORERS.add("nudenet", ScorerSpec("nudenet", False, NudeNetScorer))


def load_scorer(name: str, weights: str, clip_dim: int | None, device: str = "cpu",
                batch_size: int = NUDENET_BATCH) -> SafetyScorer:
    return SCORERS.get(name).build(weights, clip_dim, device=device, batch_size=batch_size)
