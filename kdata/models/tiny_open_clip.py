"""`tiny-open-clip`: an open_clip CLIP built from a tiny custom model config, weights in safetensors.

The preset directory holds the model config under its model name (registered with
`open_clip.add_model_config`, so `create_model_and_transforms(name, pretrained=<file>)` works like it does
for ViT-B-32 and a downloaded checkpoint), plus `open_clip_config.json` so `local-dir:<dir>` works too.

Text pooling stays open_clip's default, argmax over token ids: with the standard CLIP tokenizer the
end-of-text id (49407) is the largest id, so the argmax lands on it. tests/models checks this on Hangul.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.clip_tokenizer import CLIP_CONTEXT_LENGTH, CLIP_VOCAB_SIZE

SEED = 0
MODEL_NAME = "kcli-tiny-open-clip"
WEIGHTS_FILE = "open_clip_model.safetensors"
IMAGE_SIZE = 32
MODEL_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    # head_width 32 on width 64 gives two attention heads, like a scaled-down ViT-B-32.
    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {
        "context_length": CLIP_CONTEXT_LENGTH,
        "vocab_size": CLIP_VOCAB_SIZE,
        "width": 32,
        "heads": 4,
        "layers": 2,
        "pool_type": "argmax",
    },
}
# OpenAI's CLIP normalisation, the default of every open_clip OpenAI/LAION ViT.
PREPROCESS_CONFIG: dict[str, Any] = {
    "size": IMAGE_SIZE,
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


def config_path(preset_dir: Path) -> Path:
    """The model config file; open_clip takes a config file's stem as the model's name."""
    return preset_dir / f"{MODEL_NAME}.json"


def register(preset_dir: Path) -> tuple[str, str]:
    """Make the tiny config known to open_clip; return (model_name, weights file) for create_model."""
    open_clip = require("open_clip", "open_clip_torch")
    # add_model_config appends to a search path and rescans it, so register once per process.
    if MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(config_path(preset_dir))
    return MODEL_NAME, str(preset_dir / WEIGHTS_FILE)


def build_tiny_open_clip(out_dir: Path) -> None:
    """Write the config files, then random weights from a seeded `create_model(..., pretrained=None)`."""
    open_clip = require("open_clip", "open_clip_torch")
    safetensors_torch = require("safetensors.torch", "safetensors")
    config_path(out_dir).write_text(json.dumps(MODEL_CONFIG, indent=2), encoding="utf-8")
    hub_config = {"model_cfg": MODEL_CONFIG, "preprocess_cfg": PREPROCESS_CONFIG}
    (out_dir / "open_clip_config.json").write_text(json.dumps(hub_config, indent=2), encoding="utf-8")
    name, _ = register(out_dir)
    with seeded_torch(SEED):
        model = open_clip.create_model(name, pretrained=None, precision="fp32", device="cpu")
    # safetensors refuses views that share storage; contiguous copies keep the file self-contained.
    state = {key: tensor.detach().contiguous() for key, tensor in model.state_dict().items()}
    safetensors_torch.save_file(state, str(out_dir / WEIGHTS_FILE))
