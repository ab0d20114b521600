"""Pluggable NSFW scorers: each gives P(unsafe)-like scores in [0, 1] for a batch of rows.

- ``clip-nsfw-head``: LAION's CLIP-based NSFW detector, a small MLP over CLIP ViT-L/14 embeddings (the
  one LAION-5B's ``punsafe`` column came from), loaded from its weights file (:mod:`kdata.filter.heads`).
- ``nudenet``: NudeNet 3's detector (the nsfw extra: ``pip install 'kcli-korean[nsfw]'``), whose ONNX
  model ships inside the wheel, so it runs offline; the score is the highest confidence among its *exposed*
  body-part classes.
"""

from __future__ import annotations

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


class SafetyScorer(Protocol):
    model_id: str

    def score(self, embeddings: np.ndarray | None, images: Sequence[bytes]) -> np.ndarray: ...


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    needs_clip: bool
    build: Callable[[str, int | None], SafetyScorer]  # (weights, CLIP embedding dim) -> scorer


SCORERS: Registry[ScorerSpec] = Registry("safety scorer")


class ClipNsfwHeadScorer:
    def __init__(self, weights: str, clip_dim: int | None) -> None:
        from kdata.filter.heads import load_nsfw_head

        if not weights:
            raise ConfigError("safety scorer 'clip-nsfw-head' needs [safety] weights = PATH")
        self.head = load_nsfw_head(weights, clip_dim)
        self.model_id = f"clip-nsfw-head:{Path(weights).name}"

    def score(self, embeddings: np.ndarray | None, images: Sequence[bytes]) -> np.ndarray:
        assert embeddings is not None
        return self.head.score(embeddings)


class NudeNetScorer:
    def __init__(self, weights: str = "", clip_dim: int | None = None) -> None:
        nudenet = require("nudenet", "nudenet")
        # The packaged 320n.onnx unless a weights file (another NudeNet ONNX export) is given.
        self.detector = nudenet.NudeDetector(model_path=weights or None)
        self.model_id = f"nudenet:{Path(weights).name if weights else '320n'}"

    def score(self, embeddings: np.ndarray | None, images: Sequence[bytes]) -> np.ndarray:
        scores = []
        for data in images:
            detections: list[dict[str, Any]] = self.detector.detect(bytes(data))
            unsafe = [float(d["score"]) for d in detections if d.get("class") in NUDENET_UNSAFE]
            scores.append(max(unsafe, default=0.0))
        return np.asarray(scores, dtype=np.float32)


SCORERS.add("clip-nsfw-head", ScorerSpec("clip-nsfw-head", True, ClipNsfwHeadScorer))
SCORERS.add("nudenet", ScorerSpec("nudenet", False, NudeNetScorer))


def load_scorer(name: str, weights: str, clip_dim: int | None) -> SafetyScorer:
    return SCORERS.get(name).build(weights, clip_dim)
