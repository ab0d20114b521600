"""`tiny-clip`: a transformers CLIPModel with random weights and the real CLIP tokenizer.

Small enough to build in about a second, yet loaded through the same `CLIPModel.from_pretrained` /
`CLIPProcessor.from_pretrained` calls as openai/clip-vit-base-patch32, so code tested on it runs unchanged
on a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.deps import require, seeded_torch
from kdata.models.clip_tokenizer import (
    BOS_TOKEN_ID,
    CLIP_CONTEXT_LENGTH,
    CLIP_VOCAB_SIZE,
    EOS_TOKEN_ID,
    build_clip_tokenizer,
    write_clip_bpe_files,
)

SEED = 0
IMAGE_SIZE = 32
# eos_token_id = 49407 (not the legacy 2) makes CLIPTextTransformer pool at the end-of-text position
# instead of taking the argmax of the ids.
TEXT_CONFIG: dict[str, Any] = {
    "vocab_size": CLIP_VOCAB_SIZE,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": CLIP_CONTEXT_LENGTH,
    "bos_token_id": BOS_TOKEN_ID,
    "eos_token_id": EOS_TOKEN_ID,
    "pad_token_id": EOS_TOKEN_ID,
}
VISION_CONFIG: dict[str, Any] = {
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}
PROJECTION_DIM = 32


def build_tiny_clip(out_dir: Path) -> None:
    """Save model weights (safetensors), tokenizer and image processor side by side in `out_dir`."""
    transformers = require("transformers", "transformers")
    config = transformers.CLIPConfig(
        text_config=TEXT_CONFIG, vision_config=VISION_CONFIG, projection_dim=PROJECTION_DIM
    )
    with seeded_torch(SEED):
        model = transformers.CLIPModel(config)
    model.save_pretrained(out_dir)
    image_processor = transformers.CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor = transformers.CLIPProcessor(image_processor=image_processor, tokenizer=build_clip_tokenizer())
    processor.save_pretrained(out_dir)
    write_clip_bpe_files(out_dir)
