"""Small MLP heads over CLIP image embeddings: the LAION aesthetic predictor and LAION's NSFW detector.

Both are loaded from their published state dicts, checked key by key and shape by shape before use, so
a wrong file fails with a message that says what was expected instead of producing scores. ``.pth``
files are read with ``torch.load(weights_only=True)`` (no pickled code runs); ``.safetensors`` with
safetensors. Inputs are L2-normalised CLIP image embeddings, as both heads were trained on.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from kdata.deps import require
from kdata.errors import ConfigError

# LAION improved aesthetic predictor (github.com/christophschuhmann/improved-aesthetic-predictor,
# sac+logos+ava1-l14-linearMSE.pth; `kcli models fetch laion-aesthetic-vit-l-14` downloads it and checks the
# sha256 pinned in kdata.models.assets): Linear(768,1024), Dropout, Linear(1024,128), Dropout,
# Linear(128,64), Dropout, Linear(64,16), Linear(16,1) in an nn.Sequential called ``layers``; the
# dropouts hold no weights, so the Linear layers are at indices 0, 2, 4, 6 and 7.
AESTHETIC_LINEAR = (0, 2, 4, 6, 7)
AESTHETIC_DROPOUT = (0.2, 0.2, 0.1)
# LAION CLIP-based-NSFW-Detector (an autokeras model), in the PyTorch port's key names: the Keras
# normalisation layer as buffers, then three Dense layers and a sigmoid giving P(unsafe).
NSFW_KEYS = ("category_mapper", "mean", "std", "linear_1.weight", "linear_1.bias", "linear_2.weight",
             "linear_2.bias", "linear_3.weight", "linear_3.bias")


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """Tensors from a ``.pth``/``.pt``/``.bin`` (weights only) or ``.safetensors`` file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"weights file not found: {path}")
    torch = require("torch", "torch")
    try:
        if path.suffix == ".safetensors":
            return dict(require("safetensors.torch", "safetensors").load_file(str(path)))
        if path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise ConfigError(f"{path}: expected a .pth or .safetensors weights file")
    except ConfigError:
        raise
    except (pickle.UnpicklingError, RuntimeError, OSError, ValueError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path} is not a loadable weights file: {first[:200]}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path} does not hold a plain state dict of tensors")
    return state


def _check_keys(state: dict[str, Any], expected: list[str], what: str, path: Path) -> None:
    missing = [k for k in expected if k not in state]
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        detail = (f"missing {', '.join(missing[:4])}" if missing else "") + (
            ("; " if missing else "") + f"unexpected {', '.join(unexpected[:4])}" if unexpected else "")
        raise ConfigError(f"{path} is not a {what} state dict ({detail}); expected keys {expected[0]} ... "
                          f"{expected[-1]}")


def _check_dim(in_dim: int, clip_dim: int | None, what: str, path: Path) -> None:
    if clip_dim is not None and in_dim != clip_dim:
        raise ConfigError(
            f"{path}: the {what} takes {in_dim}-d CLIP embeddings but the configured CLIP model gives "
            f"{clip_dim}-d; use the CLIP it was trained on (ViT-L/14, 768-d, for LAION's heads)"
        )


class AestheticHead:
    """The improved aesthetic predictor; ``score`` maps unit embeddings to LAION's 1-10 scale."""

    def __init__(self, state: dict[str, Any], path: Path, clip_dim: int | None = None) -> None:
        torch = require("torch", "torch")
        expected = [f"layers.{i}.{p}" for i in AESTHETIC_LINEAR for p in ("weight", "bias")]
        _check_keys(state, expected, "LAION aesthetic predictor", path)
        sizes = [int(state["layers.0.weight"].shape[1])]
        for index in AESTHETIC_LINEAR:
            weight, bias = state[f"layers.{index}.weight"], state[f"layers.{index}.bias"]
            if weight.ndim != 2 or weight.shape[1] != sizes[-1] or tuple(bias.shape) != (weight.shape[0],):
                raise ConfigError(f"{path}: layers.{index} has shape {tuple(weight.shape)}, which does not "
                                  f"follow the previous layer's {sizes[-1]} outputs")
            sizes.append(int(weight.shape[0]))
        if sizes[-1] != 1:
            raise ConfigError(f"{path}: the last layer must give one score, not {sizes[-1]}")
        _check_dim(sizes[0], clip_dim, "aesthetic head", path)
        nn = torch.nn
        self.model = nn.Sequential(
            nn.Linear(sizes[0], sizes[1]), nn.Dropout(AESTHETIC_DROPOUT[0]),
            nn.Linear(sizes[1], sizes[2]), nn.Dropout(AESTHETIC_DROPOUT[1]),
            nn.Linear(sizes[2], sizes[3]), nn.Dropout(AESTHETIC_DROPOUT[2]),
            nn.Linear(sizes[3], sizes[4]), nn.Linear(sizes[4], sizes[5]),
        )
        wrapper = nn.Module()
        wrapper.layers = self.model
        wrapper.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        self.model.eval()
        self.input_dim = sizes[0]
        self.torch = torch

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.model(self.torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)))
        return out[:, 0].numpy().astype(np.float32)


def load_aesthetic_head(path: str | Path, clip_dim: int | None = None) -> AestheticHead:
    if not Path(path).expanduser().is_file():
        from kdata.filter.config import AESTHETIC_ASSET

        raise ConfigError(f"aesthetic weights file not found: {path}; `kcli models fetch {AESTHETIC_ASSET}` "
                          "downloads LAION's head for ViT-L/14 and prints the path to set")
    return AestheticHead(load_state_dict(path), Path(path), clip_dim)


class NsfwHead:
    """LAION's CLIP-embedding NSFW detector: ``score`` gives P(unsafe) in [0, 1]."""

    def __init__(self, state: dict[str, Any], path: Path, clip_dim: int | None = None) -> None:
        torch = require("torch", "torch")
        _check_keys(state, list(NSFW_KEYS), "LAION CLIP NSFW detector", path)
        tensors = {k: v.float() for k, v in state.items()}
        dim = int(tensors["linear_1.weight"].shape[1])
        for buffer in ("category_mapper", "mean", "std"):
            if tensors[buffer].numel() != dim:
                raise ConfigError(f"{path}: {buffer} has {tensors[buffer].numel()} values, expected {dim}")
        if tensors["linear_3.weight"].shape[0] != 1:
            raise ConfigError(f"{path}: linear_3 must give one logit")
        _check_dim(dim, clip_dim, "NSFW head", path)
        self.t = {k: v.reshape(1, dim) if k in ("category_mapper", "mean", "std") else v for k, v in tensors.items()}
        self.input_dim = dim
        self.torch = torch

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        torch, t = self.torch, self.t
        relu = torch.nn.functional.relu
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)) * t["category_mapper"]
            x = (x - t["mean"]) / t["std"]
            x = relu(x @ t["linear_1.weight"].T + t["linear_1.bias"])
            x = relu(x @ t["linear_2.weight"].T + t["linear_2.bias"])
            x = torch.sigmoid(x @ t["linear_3.weight"].T + t["linear_3.bias"])
        return x[:, 0].numpy().astype(np.float32)


def load_nsfw_head(path: str | Path, clip_dim: int | None = None) -> NsfwHead:
    return NsfwHead(load_state_dict(path), Path(path), clip_dim)


def random_aesthetic_state(input_dim: int, seed: int = 0) -> dict[str, Any]:
    """A state dict with the public predictor's key names and layer sizes, random weights (tests, demo)."""
    torch = require("torch", "torch")
    generator = torch.Generator().manual_seed(seed)
    sizes = [input_dim, 1024, 128, 64, 16, 1]
    state = {}
    for (index, fan_in), fan_out in zip(zip(AESTHETIC_LINEAR, sizes[:-1]), sizes[1:]):
        state[f"layers.{index}.weight"] = torch.randn(fan_out, fan_in, generator=generator) / fan_in**0.5
        state[f"layers.{index}.bias"] = torch.randn(fan_out, generator=generator) * 0.01
    return state


def random_nsfw_state(input_dim: int, hidden: int = 32, seed: int = 0) -> dict[str, Any]:
    """A state dict in the NSFW head's layout with random weights (tests, demo)."""
    torch = require("torch", "torch")
    generator = torch.Generator().manual_seed(seed)
    return {
        "category_mapper": torch.ones(1, input_dim),
        "mean": torch.randn(1, input_dim, generator=generator) * 0.01,
        "std": torch.rand(1, input_dim, generator=generator) * 0.05 + 0.02,
        "linear_1.weight": torch.randn(hidden, input_dim, generator=generator) / input_dim**0.5,
        "linear_1.bias": torch.zeros(hidden),
        "linear_2.weight": torch.randn(hidden, hidden, generator=generator) / hidden**0.5,
        "linear_2.bias": torch.zeros(hidden),
        "linear_3.weight": torch.randn(1, hidden, generator=generator) / hidden**0.5,
        "linear_3.bias": torch.zeros(1),
    }
