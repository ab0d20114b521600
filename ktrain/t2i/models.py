"""Stable Diffusion for the t2i pipelines: the base loaded once, and a Korean sibling sharing its UNet and VAE.

Loading is ``kcli generate``'s (:mod:`ktrain.lora.loading`, :mod:`ktrain.lora.models`): the base is a
diffusers folder, a Hub id, ``tiny-sd`` or ``tiny-sdxl``; a text encoder is a ``CLIPTextModel`` folder with
its tokenizer files, or a folder in diffusers' component layout (``text_encoder/`` + ``tokenizer/``, what
``kcli train encoder`` exports), or for an SDXL base an encoder pair folder (``text_encoder/`` +
``tokenizer/`` + ``text_encoder_2/`` + ``tokenizer_2/``, what ``kcli train encoder-sdxl`` exports).
The Korean pipeline is the English one with only the text encoder and
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
    from ktrain.lora.models import load_text_encoder, load_text_encoder_pair

    if getattr(pipe, "text_encoder_2", None) is not None:  # SDXL: an encoder pair replaces both
        tokenizer, encoder, _, tokenizer_2, encoder_2 = load_text_encoder_pair(spec, device.dtype)
        text = {"tokenizer": tokenizer, "text_encoder": encoder, "tokenizer_2": tokenizer_2,
                "text_encoder_2": encoder_2}
    else:
        tokenizer, encoder, _ = load_text_encoder(spec, Path(pipe.config._name_or_path), device.dtype)
        text = {"tokenizer": tokenizer, "text_encoder": encoder}
    width = sum(text[name].config.hidden_size for name in ("text_encoder", "text_encoder_2") if name in text)
    if width != pipe.unet.config.cross_attention_dim:
        raise ConfigError(f"--text-encoder {spec} has hidden size {width}, but the base's UNet attends to "
                          f"{pipe.unet.config.cross_attention_dim}-wide text states; use an encoder made for "
                          "this base")
    for name in ("text_encoder", "text_encoder_2"):
        if name in text:
            text[name] = text[name].to(device.name).eval()
    sibling = type(pipe)(**{**pipe.components, **text})
    sibling.set_progress_bar_config(disable=True)
    return sibling


def native_size(pipe: Any) -> int:
    """The side the base was trained at: the UNet's latent size times the VAE's downsampling."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
