"""Embedders for the index, from a name-keyed registry: each turns texts (and, for CLIP, images) into unit vectors.

- ``clip`` — any CLIP text/image tower through :func:`kdata.filter.clip.load_clip` (``hf:MODEL`` for
  transformers ``CLIPModel``, ``open_clip:MODEL``; tiny presets work). With ``text_model`` (a Korean
  ``CLIPTextModel`` folder kcli exports) Korean queries land in the image tower's space.
- ``ko-encoder`` — a ``CLIPTextModel`` (pooled output) or ``CLIPTextModelWithProjection`` (projected) folder
  and its tokenizer, as ``kcli train encoder`` exports it; transformers loads it directly.
- ``mean-pool`` — any transformers encoder, last hidden states averaged over the attention mask (the
  sentence-transformers recipe, and how a plain LLM's states are usually pooled).

The ``model_id`` names the model and, for local folders, a stamp of its files: an index records it, and a
search with another model is refused instead of returning nonsense neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from kdata.deps import require
from kdata.registry import Registry

MAX_TOKENS = 77  # CLIP's context; long prompts are truncated as the text encoders of SD truncate them


class Embedder(Protocol):
    model_id: str
    dim: int
    reads_images: bool

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...  # (N, dim) float32 unit vectors


EMBEDDERS: Registry[Callable[..., Embedder]] = Registry("index embedder")


def load_embedder(name: str, model: str, text_model: str = "", device: str = "cpu") -> Embedder:
    """The embedder ``name`` over ``model`` (a folder, Hub id, preset, or ``backend:model`` for ``clip``)."""
    return EMBEDDERS.get(name)(model, text_model=text_model, device=device)


def _unit(matrix: Any) -> np.ndarray:
    torch = require("torch", "torch")
    return torch.nn.functional.normalize(matrix.float(), dim=-1).cpu().numpy().astype(np.float32)


@EMBEDDERS.register("clip")
class ClipEmbedder:
    """``backend:model`` (``hf:tiny-clip``, ``open_clip:ViT-B-32:openai``); a bare model means ``hf``."""

    def __init__(self, model: str, text_model: str = "", device: str = "cpu") -> None:
        from kdata.filter.clip import CLIP_BACKENDS, load_clip

        backend, _, spec = model.partition(":")
        if backend not in CLIP_BACKENDS or not spec:
            backend, spec = "hf", model
        self.encoder = load_clip(backend, spec, text_model=text_model, device=device)
        self.model_id = self.encoder.model_id + (f"+text:{text_model}" if text_model else "")
        self.image_model_id = self.encoder.model_id  # the filter's embedding cache key for the image tower
        self.dim = self.encoder.dim
        self.reads_images = True

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_texts(list(texts))

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        torch = require("torch", "torch")
        return self.encoder.encode_images(torch.stack([self.encoder.preprocess(image) for image in images]))


class _TransformersText:
    """Shared loading of a transformers text model and its tokenizer."""

    reads_images = False

    def __init__(self, model: str, device: str) -> None:
        from kdata.filter.clip import local_stamp
        from kdata.models.resolve import load_errors

        self.torch = require("torch", "torch")
        self.transformers = require("transformers", "transformers")
        from kdata.models.presets import ensure_preset, list_presets

        self.device = device
        path = str(ensure_preset(model)) if model in list_presets() else model  # tiny presets by name
        with load_errors(model, "text encoder"):
            self.model = self._load(path).to(device).eval()
            self.tokenizer = self.transformers.AutoTokenizer.from_pretrained(path)
        stamp = local_stamp(model)
        self.model_id = f"{type(self).__name__}:{model}" + (f"@{stamp}" if stamp else "")

    def _load(self, model: str) -> Any:
        raise NotImplementedError

    def _tokens(self, texts: Sequence[str]) -> Any:
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS,
                              return_tensors="pt").to(self.device)


@EMBEDDERS.register("ko-encoder")
class KoreanEncoderEmbedder(_TransformersText):
    def __init__(self, model: str, text_model: str = "", device: str = "cpu") -> None:
        super().__init__(text_model or model, device)
        config = self.model.config
        self.dim = int(getattr(config, "projection_dim", 0) if self.projected else config.hidden_size)

    def _load(self, model: str) -> Any:
        config = self.transformers.AutoConfig.from_pretrained(model)
        self.projected = "CLIPTextModelWithProjection" in (getattr(config, "architectures", None) or [])
        cls = self.transformers.CLIPTextModelWithProjection if self.projected else self.transformers.CLIPTextModel
        return cls.from_pretrained(model, dtype=self.torch.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        with self.torch.inference_mode():
            output = self.model(**self._tokens(texts))
        return _unit(output.text_embeds if self.projected else output.pooler_output)


@EMBEDDERS.register("mean-pool")
class MeanPoolEmbedder(_TransformersText):
    def __init__(self, model: str, text_model: str = "", device: str = "cpu") -> None:
        super().__init__(text_model or model, device)
        config = self.encoder.config
        self.dim = int(getattr(config, "hidden_size", 0) or config.d_model)

    def _load(self, model: str) -> Any:
        loaded = self.transformers.AutoModel.from_pretrained(model, dtype=self.torch.float32)
        # A dual or seq2seq model: pool its text side (CLIP's text tower, an encoder-decoder's encoder).
        if hasattr(loaded, "text_model"):
            self.encoder = loaded.text_model
        elif hasattr(loaded, "get_encoder"):
            self.encoder = loaded.get_encoder()
        else:
            self.encoder = loaded
        return loaded

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        tokens = self._tokens(texts)
        with self.torch.inference_mode():
            states = self.encoder(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        pooled = (states.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return _unit(pooled)
