"""Write a diffusers Stable Diffusion 1.x folder as one original-layout ``.safetensors`` file (A1111/Civitai).

diffusers reads this layout (``from_single_file``) but ships no writer, so the test builds one from the
key scheme its reader expects (``diffusers.loaders.single_file_utils.convert_ldm_*``): UNet keys under
``model.diffusion_model.`` in CompVis' input/middle/output block numbering, VAE keys under
``first_stage_model.`` with the decoder's levels counted from the bottom, and the CLIP text model under
``cond_stage_model.transformer.``. Block numbers come from the model's own config, so the tiny preset's
two levels map as SD 1.5's four do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

UNET_RESNET_PARTS = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0",
                     "conv2": "out_layers.3", "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}
VAE_ATTENTION_PARTS = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def unet_prefixes(config: Any) -> dict[str, str]:
    """diffusers block prefix -> CompVis prefix for this UNet's layout."""
    per_level = config.layers_per_block + 1  # resnets (+ attentions) plus the down/upsampler slot
    levels = len(config.block_out_channels)
    attends_up = ["CrossAttn" in name for name in config.up_block_types]
    prefixes = {"mid_block.attentions.0.": "middle_block.1."}
    for j in range(2):
        prefixes[f"mid_block.resnets.{j}."] = f"middle_block.{2 * j}."
    for i in range(levels):
        for j in range(config.layers_per_block):
            prefixes[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{per_level * i + j + 1}.0."
            prefixes[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{per_level * i + j + 1}.1."
        prefixes[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{per_level * (i + 1)}.0.op."
        for j in range(per_level):
            prefixes[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{per_level * i + j}.0."
            prefixes[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{per_level * i + j}.1."
        slot = 2 if attends_up[i] else 1
        prefixes[f"up_blocks.{i}.upsamplers.0."] = f"output_blocks.{per_level * i + per_level - 1}.{slot}."
    return prefixes


def unet_to_original(state: dict[str, Any], config: Any) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    fixed = DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]
    prefixes = unet_prefixes(config)
    out = {}
    for key, value in state.items():
        name = fixed.get(key) or _swap_prefix(key, prefixes)
        if ".resnets." in key:
            for new, old in UNET_RESNET_PARTS.items():
                name = name.replace(f".{new}.", f".{old}.")
        out["model.diffusion_model." + name] = value
    return out


def vae_to_original(state: dict[str, Any], config: Any) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    fixed = DIFFUSERS_TO_LDM_MAPPING["vae"]
    levels = len(config.block_out_channels)
    out = {}
    for key, value in state.items():
        name = fixed.get(key, key)
        name = re.sub(r"down_blocks\.(\d+)\.resnets\.", r"down.\1.block.", name)
        name = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0\.", r"down.\1.downsample.", name)
        name = re.sub(r"up_blocks\.(\d+)\.resnets\.", lambda m: f"up.{levels - 1 - int(m[1])}.block.", name)
        name = re.sub(r"up_blocks\.(\d+)\.upsamplers\.0\.", lambda m: f"up.{levels - 1 - int(m[1])}.upsample.", name)
        name = re.sub(r"mid_block\.resnets\.(\d+)\.", lambda m: f"mid.block_{int(m[1]) + 1}.", name)
        name = name.replace("conv_shortcut", "nin_shortcut")
        if "mid_block.attentions.0." in name:
            name = name.replace("mid_block.attentions.0.", "mid.attn_1.")
            for new, old in VAE_ATTENTION_PARTS.items():
                name = name.replace(f".{new}.", f".{old}.")
            if value.ndim == 2:  # the original attention projections are 1x1 convolutions
                value = value[:, :, None, None]
        out["first_stage_model." + name] = value
    return out


def text_encoder_to_original(state: dict[str, Any]) -> dict[str, Any]:
    # transformers >= 5.6 drops CLIPTextModel's ``text_model.`` level; the original layout keeps it.
    return {"cond_stage_model.transformer.text_model." + k.removeprefix("text_model."): v for k, v in state.items()}


def write_single_file(folder: str | Path, out: str | Path) -> Path:
    """The UNet, VAE and text encoder of the diffusers folder ``folder`` as one original-layout file."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    encoder = CLIPTextModel.from_pretrained(Path(folder) / "text_encoder")
    state = {**unet_to_original(unet.state_dict(), unet.config), **vae_to_original(vae.state_dict(), vae.config),
             **text_encoder_to_original(encoder.state_dict())}
    save_file({k: v.contiguous() for k, v in state.items()}, str(out))
    return Path(out)


def _swap_prefix(key: str, prefixes: dict[str, str]) -> str:
    for old, new in prefixes.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key
