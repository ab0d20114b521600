"""The aesthetic and NSFW heads load the public layouts exactly and refuse anything else clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from kdata.errors import ConfigError
from kdata.filter.heads import load_aesthetic_head, load_nsfw_head, random_nsfw_state

# improved-aesthetic-predictor's MLP: the exact public key names and shapes for ViT-L/14 (768-d).
PUBLIC_SHAPES = {"layers.0.weight": (1024, 768), "layers.0.bias": (1024,), "layers.2.weight": (128, 1024),
                 "layers.2.bias": (128,), "layers.4.weight": (64, 128), "layers.4.bias": (64,),
                 "layers.6.weight": (16, 64), "layers.6.bias": (16,), "layers.7.weight": (1, 16),
                 "layers.7.bias": (1,)}


def _public_state(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {k: torch.randn(*shape, generator=generator) * 0.05 for k, shape in PUBLIC_SHAPES.items()}


def _reference(state: dict[str, torch.Tensor], x: np.ndarray) -> np.ndarray:
    """The predictor in eval mode written out by hand: five affine maps, no activations."""
    h = torch.from_numpy(x)
    for index in (0, 2, 4, 6, 7):
        h = h @ state[f"layers.{index}.weight"].T + state[f"layers.{index}.bias"]
    return h[:, 0].numpy()


def _unit(n: int, dim: int) -> np.ndarray:
    x = np.random.default_rng(1).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_aesthetic_head_matches_a_reference_mlp(tmp_path: Path, suffix: str) -> None:
    state = _public_state()
    path = tmp_path / f"sac+logos+ava1-l14-linearMSE{suffix}"
    torch.save(state, path) if suffix == ".pth" else save_file(state, str(path))
    head = load_aesthetic_head(path, clip_dim=768)
    x = _unit(5, 768)
    np.testing.assert_allclose(head.score(x), _reference(state, x), rtol=1e-5, atol=1e-6)
    assert head.input_dim == 768


def test_aesthetic_head_rejects_mismatched_files(tmp_path: Path) -> None:
    state = _public_state()
    cases = {
        "renamed": ({("mlp." + k): v for k, v in state.items()}, "is not a LAION aesthetic predictor state dict"),
        "missing": ({k: v for k, v in state.items() if k != "layers.7.bias"}, "missing layers.7.bias"),
        "shape": ({**state, "layers.2.weight": torch.zeros(128, 512)}, "layers.2 has shape (128, 512)"),
    }
    for name, (bad, message) in cases.items():
        path = tmp_path / f"{name}.pth"
        torch.save(bad, path)
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_aesthetic_head(path, clip_dim=768)
    torch.save(state, tmp_path / "ok.pth")
    with pytest.raises(ConfigError, match="takes 768-d CLIP embeddings but the configured CLIP model gives 32-d"):
        load_aesthetic_head(tmp_path / "ok.pth", clip_dim=32)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="is not a loadable weights file"):
        load_aesthetic_head(tmp_path / "junk.pth")
    (tmp_path / "head.onnx").write_bytes(b"1")
    with pytest.raises(ConfigError, match="expected a .pth or .safetensors"):
        load_aesthetic_head(tmp_path / "head.onnx")


def test_pickled_code_is_not_run_when_loading(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self) -> tuple:
            return (print, ("this must not run",))

    torch.save({"layers.0.weight": Boom()}, tmp_path / "evil.pth")
    with pytest.raises(ConfigError, match="is not a loadable weights file"):
        load_aesthetic_head(tmp_path / "evil.pth")


def test_nsfw_head_matches_a_reference(tmp_path: Path) -> None:
    state = random_nsfw_state(24, hidden=8, seed=3)
    save_file(state, str(tmp_path / "nsfw.safetensors"))
    head = load_nsfw_head(tmp_path / "nsfw.safetensors", clip_dim=24)
    x = _unit(4, 24)
    h = (torch.from_numpy(x) * state["category_mapper"] - state["mean"]) / state["std"]
    h = torch.relu(h @ state["linear_1.weight"].T + state["linear_1.bias"])
    h = torch.relu(h @ state["linear_2.weight"].T + state["linear_2.bias"])
    expected = torch.sigmoid(h @ state["linear_3.weight"].T + state["linear_3.bias"])[:, 0].numpy()
    np.testing.assert_allclose(head.score(x), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="not a LAION CLIP NSFW detector state dict"):
        load_nsfw_head(_save(tmp_path, _public_state()), clip_dim=768)


def _save(tmp_path: Path, state: dict) -> Path:
    path = tmp_path / "other.pth"
    torch.save(state, path)
    return path
