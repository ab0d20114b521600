"""What a LoRA checkpoint holds beyond accelerate's optimizer/scheduler/RNG state, and resume checks.

The frozen base weights are not saved (gigabytes for a real UNet, and the base is named in the config).
accelerate's save hook writes the trainable LoRA weights instead, twice: ``lora_state.safetensors``
(peft's own keys, read back exactly on resume) and ``pytorch_lora_weights.safetensors`` (diffusers'
format, so ``pipe.load_lora_weights(checkpoint_dir)`` can try any checkpoint).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from ktrain.checkpoints import CONFIG_FILE, read_state
from ktrain.lora.config import LoraTrainConfig, changed_settings

LORA_STATE_FILE = "lora_state.safetensors"


class StaleCheckpointError(ConfigError):
    """A checkpoint made with other settings or another manifest than the run asked to continue it."""


def register_lora_state_hooks(accelerator: Any, modules: dict[str, Any]) -> None:
    """Make ``save_state``/``load_state`` store and restore only the LoRA weights of ``modules``."""
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    from ktrain.lora.export import save_diffusers_lora

    def save_hook(models: list[Any], weights: list[Any], output_dir: str) -> None:
        if accelerator.is_main_process:
            tensors = {}
            for prefix, module in modules.items():
                state = get_peft_model_state_dict(accelerator.unwrap_model(module))
                tensors.update({f"{prefix}.{k}": v.detach().contiguous().cpu() for k, v in state.items()})
            save_file(tensors, str(Path(output_dir) / LORA_STATE_FILE))
            unwrapped = {k: accelerator.unwrap_model(m) for k, m in modules.items()}
            save_diffusers_lora(Path(output_dir), unwrapped["unet"], unwrapped.get("text_encoder"),
                                unwrapped.get("text_encoder_2"))
        weights.clear()  # the full (frozen) model state dicts stay out of the checkpoint

    def load_hook(models: list[Any], input_dir: str) -> None:
        tensors = load_file(str(Path(input_dir) / LORA_STATE_FILE))
        for prefix, module in modules.items():
            part = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
            result = set_peft_model_state_dict(accelerator.unwrap_model(module), part)
            missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
            if missing or result.unexpected_keys:
                raise ConfigError(f"{input_dir}: LoRA weights do not fit this model ({prefix}: "
                                  f"{len(missing)} missing, {len(result.unexpected_keys)} unexpected)")
        models.clear()

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def check_resumable(checkpoint: Path, config: LoraTrainConfig, manifest_fingerprint: str) -> None:
    """Refuse to continue a checkpoint with other settings or another manifest, naming what changed."""
    saved = json.loads((checkpoint / CONFIG_FILE).read_text(encoding="utf-8"))
    changed = changed_settings(saved["config"], config.to_dict())
    if changed:
        raise StaleCheckpointError(
            f"{checkpoint} was trained with other settings ({', '.join(changed)}); resume with the same "
            "settings, or train into a new --out"
        )
    fingerprint = read_state(checkpoint).extra.get("manifest_fingerprint")
    if fingerprint != manifest_fingerprint:
        raise StaleCheckpointError(
            f"{checkpoint} was trained on another manifest (fingerprint {str(fingerprint)[:12]}, this one "
            f"{manifest_fingerprint[:12]}); train into a new --out"
        )
