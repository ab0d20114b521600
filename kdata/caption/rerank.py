"""CLIP re-ranking of caption candidates: the LAION-COCO recipe.

LAION-COCO (Schuhmann et al., 2022, https://laion.ai/blog/laion-coco/) sampled many BLIP captions per
image and kept the one CLIP ranked most similar to the image. Here the candidates are whatever the
language's backends produced (several samples from a captioner with ``num_candidates``, a template, an
alt text, a translation), and each is scored by the cosine similarity of CLIP's image and text
embeddings. A Korean CLIP (any transformers ``CLIPModel`` or open_clip model) makes this work for Korean.
"""

from __future__ import annotations

from typing import Any

from kdata.caption.backends.base import ImageUnavailable, RowItem
from kdata.caption.backends.loading import resolve_device
from kdata.caption.config import RerankConfig
from kdata.deps import require


class ClipReranker:
    def __init__(self, config: RerankConfig) -> None:
        self.config = config
        self.model: Any = None
        self.processor: Any = None  # hf: CLIPProcessor; open_clip: (preprocess, tokenizer)
        self.device = "cpu"

    def load(self) -> None:
        from kdata.models import load_hf_clip, load_open_clip

        self.device = resolve_device(self.config.device)
        if self.config.library == "hf":
            self.model, self.processor = load_hf_clip(self.config.model, device=self.device)
        else:
            model, preprocess, tokenizer = load_open_clip(self.config.model, device=self.device)
            self.model, self.processor = model, (preprocess, tokenizer)

    def score(self, items: list[RowItem], texts: list[list[str]]) -> list[list[float] | None]:
        """Cosine similarity of each row's image with each of its texts; ``None`` for an unreadable image."""
        torch = require("torch", "torch")
        out: list[list[float] | None] = [None] * len(items)
        readable = []
        for index, item in enumerate(items):
            try:
                readable.append((index, item.image()))
            except ImageUnavailable:
                continue
        size = self.config.batch_size
        for start in range(0, len(readable), size):
            part = readable[start : start + size]
            flat = [t for index, _ in part for t in texts[index]]
            with torch.inference_mode():
                images = self._encode_images([image for _, image in part])
                encoded = self._encode_texts(flat)
            offset = 0
            for row, (index, _) in enumerate(part):
                count = len(texts[index])
                out[index] = (encoded[offset : offset + count] @ images[row]).tolist()
                offset += count
        return out

    def _encode_images(self, images: list[Any]) -> Any:
        torch = require("torch", "torch")
        if self.config.library == "hf":
            inputs = self.processor(images=images, return_tensors="pt").to(self.model.device)
            features = _tensor(self.model.get_image_features(**inputs))
        else:
            preprocess, _ = self.processor
            features = self.model.encode_image(torch.stack([preprocess(i) for i in images]).to(self.device))
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def _encode_texts(self, texts: list[str]) -> Any:
        torch = require("torch", "torch")
        if self.config.library == "hf":
            inputs = self.processor(text=texts, return_tensors="pt", padding=True, truncation=True)
            features = _tensor(self.model.get_text_features(**inputs.to(self.model.device)))
        else:
            _, tokenizer = self.processor
            features = self.model.encode_text(tokenizer(texts).to(self.device))
        return torch.nn.functional.normalize(features.float(), dim=-1)


def _tensor(output: Any) -> Any:
    """transformers 5 may wrap projected features in a model output; take the embedding tensor."""
    if hasattr(output, "pooler_output") and not hasattr(output, "shape"):
        return output.pooler_output
    return output
