"""Stable Diffusion for the t2i pipelines: the base loaded once, and a Korean sibling sharing its UNet and VAE.

Loading is ``kcli generate``'s (:mod:`ktrain.lora.loading`, :mod:`ktrain.lora.models`): the base is a
diffusers folder, a Hub id or ``tiny-sd``; a text encoder is a ``CLIPTextModel`` folder with its tokenizer
files, or a folder in diffusers' component layout (``text_encoder/`` + ``tokenizer/``, what
``kcli train encoder`` exports). The Korean pipeline is the English one with only the text encoder and
tokenizer swapped, built from the same component objects, so two pipelines cost one UNet and one VAE in
memory and differ in nothing but the text side: the comparison measures the text stage alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.deps import require
from kdata.errors import ConfigError


@dataclass(frozen=True)
class Device:
    name: str  # "cuda" or "cpu"
    dtype: Any  # float16 on a GPU, float32 on CPU (no fast half-precision matmuls there)

    @property
    def is_cuda(self) -> bool:
        return self.name == "cuda"


def pick_device() -> Device:
    torch = require("torch", "torch")
    if torch.cuda.is_available():
        return Device("cuda", torch.float16)
    return Device("cpu", torch.float32)


def load_base(spec: str, device: Device, variant: str | None = None, base_config: str | None = None) -> Any:
    """The base ``StableDiffusionPipeline`` on ``device``, as ``kcli generate`` loads it."""
    from ktrain.lora.loading import load_pipeline

    pipe, _ = load_pipeline(spec, None, device.name, device.dtype, variant, base_config)
    return pipe


def with_text_encoder(pipe: Any, spec: str | None, device: Device) -> Any:
    """``pipe`` reading through another text encoder (sharing every other component), or ``pipe`` itself."""
    if not spec:
        return pipe
    from ktrain.lora.models import load_text_encoder

    tokenizer, encoder, _ = load_text_encoder(spec, Path(pipe.config._name_or_path), device.dtype)
    width = encoder.config.hidden_size
    if width != pipe.unet.config.cross_attention_dim:
        raise ConfigError(f"--text-encoder {spec} has hidden size {width}, but the base's UNet attends to "
                          f"{pipe.unet.config.cross_attention_dim}-wide text states; use an encoder made for "
                          "this base")
    encoder = encoder.to(device.name).eval()
    sibling = type(pipe)(**{**pipe.components, "text_encoder": encoder, "tokenizer": tokenizer})
    sibling.set_progress_bar_config(disable=True)
    return sibling


def native_size(pipe: Any) -> int:
    """The side the base was trained at: the UNet's latent size times the VAE's downsampling."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
