"""Build a Stable Diffusion pipeline for generation: base, optional replacement text encoder, LoRAs.

LoRA files go through diffusers' own ``pipe.load_lora_weights`` (diffusers or kohya/A1111 layout, a file
or a folder) with one adapter name each, and ``pipe.set_adapters`` mixes them with their weights. One
exception: a LoRA that also carries text-encoder weights. diffusers hands those to transformers'
``load_adapter``, which in transformers 5.24 refuses peft older than 0.22 — and 0.21.2 is the newest
peft release — so that part is converted with diffusers' own key converters and injected with peft
directly (:func:`ktrain.lora.models.attach_text_encoder_lora`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from ktrain.lora.export import DIFFUSERS_FILE
from ktrain.lora.fingerprint import model_fingerprint
from ktrain.lora.models import ModelRef, attach_text_encoder_lora, load_base_pipeline

TEXT_ENCODERS = ("text_encoder", "text_encoder_2")  # the key prefixes of text-encoder LoRA weights


@dataclass(frozen=True)
class LoraSpec:
    path: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> LoraSpec:
        """``PATH`` or ``PATH:WEIGHT`` (the weight is whatever follows the last colon, when it is a number)."""
        path, sep, weight = text.rpartition(":")
        if sep and path:
            try:
                return cls(path, float(weight))
            except ValueError:
                pass
        return cls(text, 1.0)


def load_pipeline(base: str, text_encoder: str | None, device: Any, dtype: Any, variant: str | None = None,
                  base_config: str | None = None) -> tuple[Any, dict[str, ModelRef]]:
    """A ``StableDiffusionPipeline`` (``StableDiffusionXLPipeline`` for an SDXL base) on ``device``; the refs
    say what was loaded (ids, paths, fingerprints).

    ``base`` is a diffusers folder, a Hub id, ``tiny-sd``/``tiny-sdxl`` or a single ``.safetensors`` checkpoint;
    ``variant`` and ``base_config`` as :func:`ktrain.lora.models.load_base_pipeline` takes them.
    """
    pipe, refs = load_base_pipeline(base, dtype, text_encoder, variant, base_config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device), refs


def load_loras(pipe: Any, specs: list[LoraSpec]) -> list[dict[str, Any]]:
    """Load every LoRA as its own adapter and activate them all with their weights; returns their records."""
    records = []
    for index, spec in enumerate(specs):
        path = Path(spec.path)
        if not path.exists():
            raise ConfigError(f"--lora {spec.path}: no such file or folder")
        name = f"lora{index}"
        load_lora(pipe, path, name)
        weights = path / DIFFUSERS_FILE if path.is_dir() else path  # what diffusers reads from a folder
        records.append({"path": str(path), "weight": spec.weight, "adapter": name,
                        "fingerprint": model_fingerprint(weights)})
    if specs:
        pipe.set_adapters([r["adapter"] for r in records], adapter_weights=[s.weight for s in specs])
    return records


def load_lora(pipe: Any, path: Path, adapter_name: str) -> None:
    from kdata.models.resolve import load_errors

    with load_errors(str(path), "LoRA"):
        # unet_config: kohya SDXL keys name Stability's UNet blocks; diffusers maps them with it, as its own
        # load_lora_weights does.
        state_dict, alphas, metadata = pipe.lora_state_dict(str(path), return_lora_metadata=True,
                                                            unet_config=pipe.unet.config)
        encoders = [name for name in TEXT_ENCODERS if any(k.startswith(f"{name}.") for k in state_dict)]
        if not encoders:
            pipe.load_lora_weights(str(path), adapter_name=adapter_name)
            return
        unet_part = {k: v for k, v in state_dict.items() if k.startswith("unet.")}
        pipe.load_lora_into_unet(unet_part, network_alphas=alphas, unet=pipe.unet, adapter_name=adapter_name,
                                 metadata=metadata, _pipeline=pipe)
        for name in encoders:  # SDXL files carry text_encoder. and text_encoder_2. keys
            prefix = f"{name}."
            part = {k.removeprefix(prefix): v for k, v in state_dict.items() if k.startswith(prefix)}
            part_alphas = {k.removeprefix(prefix): v for k, v in (alphas or {}).items() if k.startswith(prefix)}
            part_metadata = {k.removeprefix(prefix): v for k, v in (metadata or {}).items() if k.startswith(prefix)}
            load_text_encoder_lora(getattr(pipe, name), part, part_alphas, part_metadata, adapter_name)


def load_text_encoder_lora(text_encoder: Any, state_dict: dict[str, Any], alphas: dict[str, float],
                           metadata: dict[str, Any] | None, adapter_name: str) -> None:
    """Text-encoder LoRA weights (diffusers or converted kohya keys) into ``text_encoder`` as ``adapter_name``."""
    from diffusers.utils import convert_state_dict_to_diffusers, convert_state_dict_to_peft
    from peft import LoraConfig
    from peft.utils import set_peft_model_state_dict

    peft_sd = convert_state_dict_to_peft(convert_state_dict_to_diffusers(state_dict))
    names = {n for n, _ in text_encoder.named_modules()}
    peft_sd = {_module_key(k, names): v for k, v in peft_sd.items()}
    modules = sorted({k.split(".lora_")[0] for k in peft_sd})
    unknown = [m for m in modules if m not in names]
    if unknown:
        raise ConfigError(f"LoRA text-encoder module {unknown[0]!r} is not in this text encoder")
    rank = next(v.shape[0] for k, v in peft_sd.items() if ".lora_A." in k)
    # ``metadata``: the encoder's part of diffusers' flat header ("text_encoder.lora_alpha" → "lora_alpha");
    # kohya files carry per-module alphas.
    alpha = (metadata or {}).get("lora_alpha") or (next(iter(alphas.values())) if alphas else rank)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=modules, init_lora_weights=False)
    attach_text_encoder_lora(text_encoder, config, adapter_name)
    set_peft_model_state_dict(text_encoder, peft_sd, adapter_name=adapter_name)


def _module_key(key: str, names: set[str]) -> str:
    """Match a key to the encoder's module names with or without transformers 4's ``text_model.`` level."""
    for candidate in (key, key.removeprefix("text_model."), f"text_model.{key}"):
        if candidate.split(".lora_")[0] in names:
            return candidate
    return key
