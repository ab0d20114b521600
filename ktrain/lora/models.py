"""Stable Diffusion 1.x components for training and generation, with an optional replacement text encoder.

The base is a diffusers folder, a Hub id or the ``tiny-sd`` preset; they all load through
``from_pretrained``. ``--text-encoder DIR`` replaces the base's CLIP text encoder and tokenizer with any
``CLIPTextModel`` folder — the kcli Korean encoder, or a pipeline's ``text_encoder``/``tokenizer``
subfolders saved side by side. Its hidden size must equal the UNet's cross-attention width.

SDXL (two text encoders, pooled embeddings, size/crop conditioning) is refused with a clear message for
now; the data side already records original sizes and crop corners for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from kdata.models.resolve import load_errors, resolve_model
from ktrain.lora.config import LoraTrainConfig
from ktrain.lora.fingerprint import model_fingerprint


@dataclass
class ModelRef:
    """A model as a user named it, where it was loaded from, and a fingerprint of its files."""

    spec: str
    path: str
    fingerprint: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.spec, "path": self.path, "fingerprint": self.fingerprint}


@dataclass
class SDComponents:
    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    noise_scheduler: Any
    base: ModelRef
    text_encoder_ref: ModelRef  # the base's own encoder when no --text-encoder is given
    vae_ref: ModelRef

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this: VAE downsampling times the UNet's own downsampling."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def max_length(self) -> int:
        return int(self.tokenizer.model_max_length)


def resolve_base(spec: str) -> Path:
    path = Path(resolve_model(spec, family="stable-diffusion"))
    if path.exists():
        if not (path / "unet").is_dir() or not (path / "vae").is_dir():
            raise ConfigError(f"--base {spec}: not a diffusers Stable Diffusion folder (needs unet/ and vae/)")
        if (path / "text_encoder_2").exists():
            raise ConfigError(f"--base {spec}: SDXL is not supported yet; use a Stable Diffusion 1.x base")
        return path
    from huggingface_hub import snapshot_download

    with load_errors(spec, "Stable Diffusion model"):
        return Path(snapshot_download(spec, allow_patterns=["*.json", "*.txt", "*.safetensors"]))


def text_encoder_dirs(path: str | Path) -> tuple[Path, Path]:
    """(model dir, tokenizer dir): a plain CLIPTextModel folder, or a pipeline-style folder with subfolders."""
    root = Path(path)
    if (root / "text_encoder" / "config.json").exists():
        return root / "text_encoder", root / "tokenizer"
    if not (root / "config.json").exists():
        raise ConfigError(
            f"--text-encoder {path}: expected a CLIPTextModel folder (config.json, weights and tokenizer files)"
        )
    return root, root


def load_text_encoder(spec: str | None, base: Path, dtype: Any) -> tuple[Any, Any, ModelRef]:
    """(tokenizer, CLIPTextModel, ref) from ``spec`` or, when None, from the base's subfolders."""
    from transformers import AutoTokenizer, CLIPTextModel

    model_dir, tok_dir = text_encoder_dirs(spec) if spec else (base / "text_encoder", base / "tokenizer")
    with load_errors(str(spec or base), "text encoder"):
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        encoder = CLIPTextModel.from_pretrained(model_dir, dtype=dtype)
    positions = encoder.config.max_position_embeddings
    if not 0 < (getattr(tokenizer, "model_max_length", 0) or 0) <= positions:
        tokenizer.model_max_length = positions  # pipelines pad to this; a tokenizer without a limit says 1e30
    ref = ModelRef(spec or f"{base}:text_encoder", str(model_dir), model_fingerprint(model_dir, tok_dir))
    return tokenizer, encoder, ref


def load_components(base_spec: str, text_encoder: str | None, dtype: Any) -> SDComponents:
    """Every part of a Stable Diffusion 1.x pipeline in ``dtype``, frozen; LoRA is added by the trainer."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    base = resolve_base(base_spec)
    tokenizer, encoder, encoder_ref = load_text_encoder(text_encoder, base, dtype)
    with load_errors(base_spec, "Stable Diffusion model"):
        vae = AutoencoderKL.from_pretrained(base, subfolder="vae", dtype=dtype)
        unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", dtype=dtype)
        noise_scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler")
    width = encoder.config.hidden_size
    if width != unet.config.cross_attention_dim:
        raise ConfigError(
            f"text encoder {encoder_ref.spec} has hidden size {width}, but the UNet of {base_spec} attends to "
            f"{unet.config.cross_attention_dim}-wide text states; use an encoder made for this base"
        )
    for module in (encoder, vae, unet):
        module.requires_grad_(False)
        module.eval()
    base_ref = ModelRef(base_spec, str(base), model_fingerprint(base))
    vae_ref = ModelRef(f"{base_spec}:vae", str(base / "vae"), model_fingerprint(base / "vae"))
    return SDComponents(tokenizer, encoder, vae, unet, noise_scheduler, base_ref, encoder_ref, vae_ref)


def tokenize(tokenizer: Any, captions: list[str], max_length: int) -> Any:
    return tokenizer(
        captions, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
    ).input_ids


def encode_text(components: SDComponents, captions: list[str], device: Any) -> Any:
    """The per-token hidden states SD's UNet attends to (the last layer's output, as the SD 1.x pipeline)."""
    ids = tokenize(components.tokenizer, captions, components.max_length).to(device)
    return components.text_encoder(ids)[0]


def add_lora(components: SDComponents, config: LoraTrainConfig) -> None:
    """LoRA on the UNet's attention projections and, optionally, on the text encoder's (new weights in fp32)."""
    import torch
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    def lora_config(targets: list[str]) -> Any:
        return LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.lora_dropout,
                          init_lora_weights="gaussian", target_modules=list(targets))

    try:
        components.unet.add_adapter(lora_config(config.target_modules))
        if config.train_text_encoder:
            attach_text_encoder_lora(components.text_encoder, lora_config(config.text_encoder_target_modules))
    except ValueError as exc:  # peft: "Target modules {...} not found in the base model"
        raise ConfigError(f"cannot add LoRA: {str(exc).splitlines()[0]}") from None
    trained = [components.unet] + ([components.text_encoder] if config.train_text_encoder else [])
    cast_training_params(trained, dtype=torch.float32)


def attach_text_encoder_lora(text_encoder: Any, lora_config: Any, adapter_name: str = "default") -> None:
    """Inject a LoRA into a transformers text encoder through peft itself.

    transformers 5.24's ``add_adapter``/``load_adapter`` refuse peft older than 0.22, and 0.21.2 is the
    newest peft release, so this calls peft's ``inject_adapter_in_model`` and records the config where
    transformers and diffusers look for it (``peft_config``, ``_hf_peft_config_loaded``).
    """
    from peft import inject_adapter_in_model

    inject_adapter_in_model(lora_config, text_encoder, adapter_name)
    if not isinstance(getattr(text_encoder, "peft_config", None), dict):
        text_encoder.peft_config = {}
    text_encoder.peft_config[adapter_name] = lora_config
    text_encoder._hf_peft_config_loaded = True
