"""CLIP backends behind one small interface: open_clip models and transformers ``CLIPModel``.

Both load through :mod:`kdata.models` (``load_open_clip`` / ``load_hf_clip``), so a tiny preset, an
open_clip ``MODEL:PRETRAINED`` name such as ``ViT-L-14:openai``, a Hub id such as
``Bingsu/clip-vit-large-patch14-ko`` or a local folder take the same path. With the transformers backend
``text_model`` may name a separate ``CLIPTextModel`` folder (the Korean encoder kcli trains is one):
its pooled output goes through the CLIP model's own text projection, so the similarity stays in the
image tower's space. Embeddings are L2-normalised float32, as the aesthetic and NSFW heads expect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kdata.deps import require
from kdata.registry import Registry


class ClipEncoder(Protocol):
    model_id: str  # the cache key: backend, model spec and, for local files, a stamp of them
    dim: int

    def preprocess(self, image: Any) -> Any: ...  # PIL image -> CHW tensor

    def encode_images(self, pixels: Any) -> np.ndarray: ...  # NCHW tensor -> (N, dim) unit vectors

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


CLIP_BACKENDS: Registry[Callable[..., ClipEncoder]] = Registry("CLIP backend")


def load_clip(backend: str, model: str, text_model: str = "", device: str = "cpu") -> ClipEncoder:
    return CLIP_BACKENDS.get(backend)(model, text_model=text_model, device=device)


def local_stamp(spec: str) -> str:
    """A short fingerprint of local model files (sizes and mtimes), so a rebuilt model misses the cache."""
    candidates = [spec.removeprefix("local-dir:"), *spec.split(":")[1:]]
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if candidate and path.exists():
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            digest = hashlib.sha256()
            for file in files:
                stat = file.stat()
                digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
            return digest.hexdigest()[:12]
    return ""


def _model_id(backend: str, spec: str) -> str:
    stamp = local_stamp(spec)
    return f"{backend}:{spec}" + (f"@{stamp}" if stamp else "")


def _unit(features: Any) -> np.ndarray:
    torch = require("torch", "torch")
    features = features if isinstance(features, torch.Tensor) else features.pooler_output
    return torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy().astype(np.float32)


@CLIP_BACKENDS.register("open_clip")
class OpenClipEncoder:
    def __init__(self, spec: str, text_model: str = "", device: str = "cpu") -> None:
        from kdata.errors import ConfigError
        from kdata.models import load_open_clip

        if text_model:
            raise ConfigError("[clip] text_model works with backend = \"hf\" (a transformers CLIPTextModel)")
        self.torch = require("torch", "torch")
        self.model, self._preprocess, self.tokenizer = load_open_clip(spec, device=device)
        self.device = device
        self.model_id = _model_id("open_clip", spec)
        self.dim = int(getattr(self.model.visual, "output_dim", 0)) or self._probe_dim()

    def _probe_dim(self) -> int:
        with self.torch.inference_mode():
            return int(self.model.encode_text(self.tokenizer([""]).to(self.device)).shape[-1])

    def preprocess(self, image: Any) -> Any:
        return self._preprocess(image)

    def encode_images(self, pixels: Any) -> np.ndarray:
        with self.torch.inference_mode():
            return _unit(self.model.encode_image(pixels.to(self.device)))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        with self.torch.inference_mode():
            return _unit(self.model.encode_text(self.tokenizer(list(texts)).to(self.device)))


@CLIP_BACKENDS.register("hf")
class HfClipEncoder:
    def __init__(self, spec: str, text_model: str = "", device: str = "cpu") -> None:
        from kdata.models import load_hf_clip

        self.torch = require("torch", "torch")
        self.model, self.processor = load_hf_clip(spec, device=device)
        self.device = device
        self.model_id = _model_id("hf", spec)
        self.dim = int(self.model.config.projection_dim)
        self.tokenizer = self.processor.tokenizer
        self.text_model = _load_text_model(text_model, device) if text_model else None
        if self.text_model is not None:
            self.tokenizer = self.text_model[1]

    def preprocess(self, image: Any) -> Any:
        return self.processor.image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    def encode_images(self, pixels: Any) -> np.ndarray:
        with self.torch.inference_mode():
            return _unit(self.model.get_image_features(pixel_values=pixels.to(self.device)))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        max_length = int(self.model.config.text_config.max_position_embeddings)
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                                return_tensors="pt").to(self.device)
        with self.torch.inference_mode():
            if self.text_model is None:
                return _unit(self.model.get_text_features(**tokens))
            encoder = self.text_model[0]
            output = encoder(**tokens)
            if hasattr(output, "text_embeds"):  # CLIPTextModelWithProjection carries its own projection
                return _unit(output.text_embeds)
            return _unit(self.model.text_projection(output.pooler_output))


def _load_text_model(path: str, device: str) -> tuple[Any, Any]:
    """A CLIPTextModel(WithProjection) folder and its tokenizer, loaded like any checkpoint."""
    from kdata.models.resolve import load_errors

    transformers = require("transformers", "transformers")
    torch = require("torch", "torch")
    with load_errors(path, "CLIP text model"):
        config = transformers.AutoConfig.from_pretrained(path)
        with_projection = "CLIPTextModelWithProjection" in (getattr(config, "architectures", None) or [])
        cls = transformers.CLIPTextModelWithProjection if with_projection else transformers.CLIPTextModel
        model = cls.from_pretrained(path, dtype=torch.float32)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    return model.to(device).eval(), tokenizer
