"""CLIP score of generated images against a text: how well an image follows its prompt.

CLIPScore (Hessel et al., 2021, "CLIPScore: A Reference-free Evaluation Metric for Image Captioning") is
``w * max(cos(image, text), 0)``; we report it on torchmetrics' scale, ``100 * max(cos, 0)``, the one
text-to-image papers quote. Two models score each image: an English CLIP against the prompt set's English
text and a Korean CLIP against the Korean prompt, so a pipeline that drifts from the Korean meaning loses
on both, whatever language it generated from.

Both load through the filter stage's CLIP backends (:func:`kdata.filter.clip.load_clip`, the ``hf`` and
``open_clip`` registry entries): a tiny preset by its family, a spec with a colon (``ViT-B-32:openai``,
``hf-hub:org/repo``, ``local-dir:/path``) through open_clip, anything else (a Hub id such as
``Bingsu/clip-vit-large-patch14-ko``, a folder) through transformers' ``CLIPModel``.
"""

from __future__ import annotations

from typing import Any

from kdata.deps import require

SCALE = 100.0  # torchmetrics' CLIPScore scale


def clip_backend(spec: str) -> str:
    """``open_clip`` or ``hf``, decided from the spec as the module docstring says."""
    from kdata.models.presets import PRESETS

    if spec in PRESETS:
        family = PRESETS.get(spec).family
        if family not in ("hf-clip", "open-clip"):
            from kdata.errors import ConfigError

            raise ConfigError(f"preset {spec!r} is a {family} model, not CLIP; use tiny-clip or tiny-open-clip")
        return "open_clip" if family == "open-clip" else "hf"
    return "open_clip" if ":" in spec else "hf"


class ClipScorer:
    """Loaded once; ``score(images, texts)`` gives one CLIP score per (image, text) pair."""

    def __init__(self, spec: str, device: str = "cpu") -> None:
        from kdata.filter.clip import load_clip

        self.spec, self.backend = spec, clip_backend(spec)
        self.encoder = load_clip(self.backend, spec, device=device)

    def score(self, images: list[Any], texts: list[str], batch_size: int = 32) -> list[float]:
        torch = require("torch", "torch")
        scores: list[float] = []
        for start in range(0, len(images), batch_size):
            pixels = torch.stack([self.encoder.preprocess(image) for image in images[start : start + batch_size]])
            image = self.encoder.encode_images(pixels)  # unit vectors, float32
            text = self.encoder.encode_texts(texts[start : start + batch_size])
            cosine = (image * text).sum(axis=-1)
            scores.extend(float(SCALE * max(value, 0.0)) for value in cosine)
        return scores
