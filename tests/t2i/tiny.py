"""Tiny models made in the tests: a LoRA for tiny-sd, a standalone "Korean" encoder folder, a prompt file."""

from __future__ import annotations

import json
from pathlib import Path

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]  # the UNet's attention projections, as kcli train lora
KOREAN_LORA = "수묵화 LoRA"  # the serve tests' second LoRA, named as the seed's demo named its LoRAs


def make_tiny_lora(out_dir: Path, seed: int = 0, scale: float = 0.5) -> Path:
    """A peft LoRA (rank 4) on tiny-sd's UNet attention, saved with diffusers' ``save_lora_weights``.

    peft starts B at zero (a LoRA that does nothing); B is filled with seeded noise here so that picking
    the LoRA visibly changes the image.
    """
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from kdata.models import resolve_model

    unet = UNet2DConditionModel.from_pretrained(resolve_model("tiny-sd"), subfolder="unet")
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian", target_modules=LORA_TARGETS))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(str(out_dir), unet_lora_layers=layers, safe_serialization=True)
    return out_dir / "pytorch_lora_weights.safetensors"


def make_encoder_folder(out_dir: Path) -> Path:
    """tiny-sd's own text encoder and tokenizer saved in the layout ``kcli train encoder`` exports."""
    from transformers import AutoTokenizer, CLIPTextModel

    from kdata.models import resolve_model

    base = Path(resolve_model("tiny-sd"))
    CLIPTextModel.from_pretrained(base / "text_encoder").save_pretrained(out_dir / "text_encoder")
    AutoTokenizer.from_pretrained(base / "tokenizer").save_pretrained(out_dir / "tokenizer")
    return out_dir


PROMPTS = [
    {"id": "hanok-a", "category": "hanok", "ko": "눈 내린 한옥 마을", "en": "a hanok village in the snow"},
    {"id": "food-b", "category": "food", "ko": "비빔밥 한 그릇", "en": "a bowl of bibimbap"},
]

KOREAN_ONLY = [{key: value for key, value in row.items() if key != "en"} for row in PROMPTS]


def write_prompts(path: Path, rows: list[dict] | None = None) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows or PROMPTS), encoding="utf-8")
    return path
