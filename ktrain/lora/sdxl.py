"""What SDXL adds to Stable Diffusion training: two text encoders, a pooled embedding, size/crop conditioning.

As Podell et al. 2023 ("SDXL", section 2.2) and diffusers' ``train_text_to_image_lora_sdxl.py`` define them:

- **Text states**: each caption goes through both encoders; the hidden states *before* each encoder's last
  layer (the penultimate layer) are concatenated along the width, 768 + 1280 = 2048 on the real model.
- **Pooled embedding**: the second encoder's projected end-of-text embedding (``text_embeds``).
- **Micro-conditioning** (``time_ids``): six numbers per image, ``(original height, original width,
  crop top, crop left, target height, target width)``. The original size is the image's size before any
  resize, which the manifest records as ``original_width``/``original_height``; the crop is the top-left
  corner the trainer's cover-then-centre-crop cut off; the target is the training bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# SDXL reads the penultimate layer of both encoders ("clip skip 2"), as its pipeline's encode_prompt does.
SDXL_HIDDEN_LAYER = -2


def is_sdxl_unet(unet: Any) -> bool:
    """An SDXL-style UNet takes the pooled text embedding and size/crop ids as added conditioning."""
    return getattr(unet.config, "addition_embed_type", None) == "text_time"


def time_ids(original_size: tuple[int, int], crop_top_left: tuple[int, int], bucket: tuple[int, int]) -> list[int]:
    """SDXL's six micro-conditioning numbers. ``original_size`` and ``bucket`` are (width, height), as
    PIL and the manifest give them; SDXL orders every pair height first."""
    (width, height), (top, left), (target_w, target_h) = original_size, crop_top_left, bucket
    return [int(height), int(width), int(top), int(left), int(target_h), int(target_w)]


def example_time_ids(example: Any) -> list[int]:
    """:func:`time_ids` of a training example: its manifest original size (the decoded size when the
    manifest has none), its crop corner and its bucket."""
    original = example.original_size or example.size
    return time_ids(original, example.crop_top_left, example.bucket)


def batch_time_ids(examples: Sequence[Any], device: Any, dtype: Any) -> Any:
    import torch

    return torch.tensor([example_time_ids(e) for e in examples], device=device, dtype=dtype)


def added_conditioning(pooled: Any, time_ids_tensor: Any) -> dict[str, Any]:
    """The UNet's ``added_cond_kwargs`` for the text_time embedding."""
    return {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": time_ids_tensor}}


def encode_sdxl_text(tokenizers: Sequence[Any], encoders: Sequence[Any], captions: list[str],
                     device: Any) -> tuple[Any, Any]:
    """(states ``[batch, 77, width1 + width2]``, pooled ``[batch, projection_dim]``) for ``captions``."""
    import torch

    states, pooled = [], None
    for tokenizer, encoder in zip(tokenizers, encoders, strict=True):
        ids = tokenizer(captions, padding="max_length", max_length=int(tokenizer.model_max_length),
                        truncation=True, return_tensors="pt").input_ids.to(device)
        output = encoder(ids, output_hidden_states=True)
        states.append(output.hidden_states[SDXL_HIDDEN_LAYER])
        pooled = getattr(output, "text_embeds", None)
    if pooled is None:
        raise ValueError("SDXL's second text encoder must be a CLIPTextModelWithProjection (no text_embeds)")
    return torch.cat(states, dim=-1), pooled


def unet_conditioning(examples: Sequence[Any], pooled: Any, dtype: Any) -> dict[str, Any]:
    """Extra UNet keyword arguments for a batch: none for SD 1.x (``pooled`` is None), SDXL's added
    conditioning (pooled embedding + each example's time ids) otherwise."""
    if pooled is None:
        return {}
    return added_conditioning(pooled, batch_time_ids(examples, pooled.device, dtype))


def sgm_module_name(module: str, layers_per_block: int) -> str | None:
    """A diffusers UNet module path inside a transformer block as kohya-ss names it for SDXL, or None.

    kohya-ss trains SDXL on Stability's original (sgm) UNet, so its SDXL LoRA keys say
    ``input_blocks.4.1...`` where diffusers says ``down_blocks.1.attentions.0...``. Level ``i``, layer ``j``
    of the down path is input block ``1 + i * (layers + 1) + j`` (block 0 is conv_in, and each level ends
    with a downsampler block); the up path has ``layers + 1`` layers per level, output block
    ``i * (layers + 1) + j``; the transformer is sub-module 1 of its block (the resnet is 0). diffusers'
    ``_maybe_map_sgm_blocks_to_diffusers`` inverts exactly this when it loads such a file.
    """
    parts = module.split(".")
    stride = layers_per_block + 1
    if len(parts) > 4 and parts[0] == "down_blocks" and parts[2] == "attentions":
        return ".".join(["input_blocks", str(1 + int(parts[1]) * stride + int(parts[3])), "1", *parts[4:]])
    if len(parts) > 3 and parts[0] == "mid_block" and parts[1] == "attentions":
        return ".".join(["middle_block", "1", *parts[3:]])
    if len(parts) > 4 and parts[0] == "up_blocks" and parts[2] == "attentions":
        return ".".join(["output_blocks", str(int(parts[1]) * stride + int(parts[3])), "1", *parts[4:]])
    return None


def sgm_unet_state_dict(state_dict: dict[str, Any], layers_per_block: Any) -> dict[str, Any] | None:
    """peft UNet LoRA keys renamed to sgm module paths; None when some module has no sgm name here (a
    LoRA on resnets, say) or the levels differ in depth: the caller then keeps diffusers' names, which
    diffusers and ComfyUI also read (mixing the two namings in one file would make diffusers drop keys)."""
    if isinstance(layers_per_block, (list, tuple)):
        if len(set(layers_per_block)) != 1:
            return None
        layers_per_block = layers_per_block[0]
    renamed: dict[str, Any] = {}
    for key, tensor in state_dict.items():
        module, _, rest = key.rpartition(".lora_")
        sgm = sgm_module_name(module, int(layers_per_block))
        if sgm is None:
            return None
        renamed[f"{sgm}.lora_{rest}"] = tensor
    return renamed
