"""CLIP score of generated images against a text: how well an image follows its prompt.

CLIPScore (Hessel et al., 2021, "CLIPScore: A Reference-free Evaluation Metric for Image Captioning") is
``w * max(cos(image, text), 0)``; we report it on torchmetrics' scale, ``100 * max(cos, 0)``, the one
text-to-image papers quote. Two models score each image: an English CLIP against the prompt set's English
text and a Korean CLIP against the Korean prompt, so a pipeline that drifts from the Korean meaning loses
on both, whatever language it generated from.

Both load through kdata's model registry (``load_hf_clip`` / ``load_open_clip``): a tiny preset by its
family, a spec with a colon (``ViT-B-32:openai``, ``hf-hub:org/repo``, ``local-dir:/path``) through
open_clip, anything else (a Hub id such as ``Bingsu/clip-vit-large-patch14-ko``, a folder) through
transformers' ``CLIPModel``.
"""

from __future__ import annotations

from typing import Any

from kdata.models._deps import require

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
        self.torch = require("torch", "torch")
        self.spec, self.device, self.backend = spec, device, clip_backend(spec)
        if self.backend == "open_clip":
            from kdata.models import load_open_clip

            self.model, self.preprocess, self.tokenizer = load_open_clip(spec, device=device)
        else:
            from kdata.models import load_hf_clip

            self.model, self.processor = load_hf_clip(spec, device=device)

    def _embed(self, images: list[Any], texts: list[str]) -> tuple[Any, Any]:
        if self.backend == "open_clip":
            pixels = self.torch.stack([self.preprocess(image) for image in images]).to(self.device)
            return self.model.encode_image(pixels), self.model.encode_text(self.tokenizer(texts).to(self.device))
        max_length = int(self.model.config.text_config.max_position_embeddings)
        inputs = self.processor(text=texts, images=images, return_tensors="pt", padding=True, truncation=True,
                                max_length=max_length).to(self.device)
        out = self.model(**inputs)
        return out.image_embeds, out.text_embeds

    def score(self, images: list[Any], texts: list[str], batch_size: int = 32) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(images), batch_size):
            with self.torch.inference_mode():
                image, text = self._embed(images[start : start + batch_size], texts[start : start + batch_size])
            normalize = self.torch.nn.functional.normalize
            cosine = (normalize(image.float(), dim=-1) * normalize(text.float(), dim=-1)).sum(-1)
            scores.extend((SCALE * cosine.clamp(min=0)).tolist())
        return scores
