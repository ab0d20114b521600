"""Stable Diffusion for the t2i pipelines: the base loaded once, and a Korean sibling sharing its UNet and VAE.

The base is a diffusers folder, a Hub id or ``tiny-sd``. A text encoder is a ``CLIPTextModel`` folder
(with its tokenizer files) or a folder in diffusers' component layout (``text_encoder/`` + ``tokenizer/``,
what ``kcli train encoder`` exports). The Korean pipeline is the English one with only the text encoder
and tokenizer swapped, built from the same component objects, so two pipelines cost one UNet and one VAE
in memory and differ in nothing but the text side: the comparison measures the text stage alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from kdata.models._deps import require


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


def resolve_base(spec: str) -> Path | str:
    """A local diffusers folder (a preset is built first) or a Hub id handed to ``from_pretrained`` as it is."""
    from kdata.models.resolve import resolve_model

    path = Path(resolve_model(spec, family="stable-diffusion"))
    if not path.exists():
        return spec
    if not (path / "unet").is_dir() or not (path / "vae").is_dir():
        raise ConfigError(f"--base {spec}: not a diffusers Stable Diffusion folder (needs unet/ and vae/)")
    return path


def text_encoder_dirs(spec: str | Path) -> tuple[Path, Path]:
    """(model dir, tokenizer dir): a plain CLIPTextModel folder or a component-layout export."""
    root = Path(spec).expanduser()
    if (root / "text_encoder" / "config.json").exists():
        return root / "text_encoder", root / "tokenizer"
    if not (root / "config.json").exists():
        raise ConfigError(f"--text-encoder {spec}: expected a CLIPTextModel folder with its tokenizer files, "
                          "or an export with text_encoder/ and tokenizer/")
    return root, root


def load_base(spec: str, device: Device) -> Any:
    """The base ``StableDiffusionPipeline`` on ``device``, no safety checker, progress bars off."""
    diffusers = require("diffusers", "diffusers")
    from kdata.models.resolve import _load_errors

    with _load_errors(spec, "Stable Diffusion model"):
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(
            resolve_base(spec), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
            dtype=device.dtype,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device.name)


def load_text_encoder(spec: str, device: Device) -> tuple[Any, Any]:
    """(tokenizer, CLIPTextModel in eval mode) from a text-encoder folder."""
    transformers = require("transformers", "transformers")
    from kdata.models.resolve import _load_errors

    model_dir, tokenizer_dir = text_encoder_dirs(spec)
    with _load_errors(str(spec), "text encoder"):
        tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
        encoder = transformers.CLIPTextModel.from_pretrained(model_dir, dtype=device.dtype)
    positions = encoder.config.max_position_embeddings
    if not 0 < (getattr(tokenizer, "model_max_length", 0) or 0) <= positions:
        tokenizer.model_max_length = positions  # the pipeline pads to this; a tokenizer without a limit says 1e30
    return tokenizer, encoder.to(device.name).eval()


def with_text_encoder(pipe: Any, spec: str | None, device: Device) -> Any:
    """``pipe`` reading through another text encoder (sharing every other component), or ``pipe`` itself."""
    if not spec:
        return pipe
    tokenizer, encoder = load_text_encoder(spec, device)
    width = encoder.config.hidden_size
    if width != pipe.unet.config.cross_attention_dim:
        raise ConfigError(f"--text-encoder {spec} has hidden size {width}, but the base's UNet attends to "
                          f"{pipe.unet.config.cross_attention_dim}-wide text states; use an encoder made for "
                          "this base")
    sibling = type(pipe)(**{**pipe.components, "text_encoder": encoder, "tokenizer": tokenizer})
    sibling.set_progress_bar_config(disable=True)
    return sibling


def native_size(pipe: Any) -> int:
    """The side the base was trained at: the UNet's latent size times the VAE's downsampling."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
