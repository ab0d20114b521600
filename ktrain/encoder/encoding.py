"""Tokenize and encode text the way a Stable Diffusion pipeline does, plus the frozen UNet and its inputs.

SD pipelines pad every prompt to the tokenizer's 77 positions with end-of-text and pass no attention
mask, so the UNet reads all 77 hidden states, padding included; training and evaluation do the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.deps import require
from kdata.errors import ConfigError
from kdata.models.clip_tokenizer import CLIP_CONTEXT_LENGTH

NUM_TRAIN_TIMESTEPS = 1000  # SD 1.x/2.x/XL training schedules all use 1000 steps


def tokenize(tokenizer: Any, texts: list[str]) -> Any:
    length = min(int(tokenizer.model_max_length), CLIP_CONTEXT_LENGTH)
    return tokenizer(texts, padding="max_length", max_length=length, truncation=True, return_tensors="pt").input_ids


def encode(model: Any, input_ids: Any, hidden_layer: int = -1) -> tuple[Any, Any]:
    """(hidden states the UNet reads, pooled vector). ``hidden_layer`` -1: last, after the final norm (SD 1.x);
    -2: penultimate, before it (SDXL, "clip skip")."""
    output = model(input_ids=input_ids, output_hidden_states=hidden_layer != -1)
    states = output.last_hidden_state if hidden_layer == -1 else output.hidden_states[hidden_layer]
    pooled = output.text_embeds if getattr(output, "text_embeds", None) is not None else output.pooler_output
    return states, pooled


def encode_texts(model: Any, tokenizer: Any, texts: list[str], hidden_layer: int = -1, batch_size: int = 64,
                 device: Any = "cpu") -> tuple[Any, Any]:
    """Encode without gradients in batches; returns fp32 CPU tensors (N, tokens, dim) and (N, dim)."""
    torch = require("torch", "torch")
    states, pooled = [], []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            ids = tokenize(tokenizer, texts[start : start + batch_size]).to(device)
            s, p = encode(model, ids, hidden_layer)
            states.append(s.float().cpu())
            pooled.append(p.float().cpu())
    if not states:
        raise ConfigError("nothing to encode: the split is empty")
    return torch.cat(states), torch.cat(pooled)


def load_unet(spec: str, dtype: Any = None) -> Any:
    """The frozen UNet of a Stable Diffusion checkpoint (preset, diffusers folder or Hub id), in eval mode."""
    torch = require("torch", "torch")
    diffusers = require("diffusers", "diffusers")
    from kdata.models.resolve import load_errors, resolve_model

    path = resolve_model(spec)
    with load_errors(spec, "UNet"):
        unet = diffusers.UNet2DConditionModel.from_pretrained(path, subfolder="unet", dtype=dtype or torch.float32)
    unet.requires_grad_(False)
    return unet.eval()


def checkpoint_unet(unet: Any) -> None:
    """Gradient checkpointing through the frozen UNet: each block keeps only its inputs for the backward pass
    into the student's states and recomputes its activations then (same gradients, less memory).

    diffusers >= 0.32 checkpoints whenever gradients are on; older releases (kcli accepts >= 0.30) also ask
    ``self.training`` of each checkpointed block, so those blocks alone are flagged as training. Their children
    (dropout included) stay in eval mode, and the UNet's weights stay frozen."""
    unet.enable_gradient_checkpointing()
    for module in unet.modules():
        if getattr(module, "gradient_checkpointing", False):
            module.training = True


def unet_reads(unet: Any, hidden_size: int) -> bool:
    """Whether this encoder's states alone drive the UNet: SD 1.x/2.x yes; SDXL (two encoders, added embeddings) no."""
    config = unet.config
    return config.cross_attention_dim == hidden_size and not getattr(config, "addition_embed_type", None)


def check_unet_reads(unet: Any, hidden_size: int) -> None:
    config = unet.config
    if not unet_reads(unet, hidden_size):
        raise ConfigError(
            f"the UNet reads {config.cross_attention_dim}-wide context"
            f"{' plus added text/time embeddings (SDXL)' if getattr(config, 'addition_embed_type', None) else ''}, "
            f"not this {hidden_size}-wide encoder alone; set unet_weight = 0 (SDXL: train each encoder with the "
            "pooled and sequence objectives)"
        )


def unet_inputs(unet: Any, count: int, generator: Any, latent_size: int | None = None) -> tuple[Any, Any]:
    """``count`` noisy latents and timesteps. With no images at hand the latent is drawn from the forward
    process's marginal for unit-variance data, sqrt(a)·x0 + sqrt(1-a)·eps, which is N(0, I) at every t
    (SD's scaled latents have about unit variance: Rombach et al., 2022, scale factor 0.18215)."""
    torch = require("torch", "torch")
    size = latent_size or unet.config.sample_size
    latents = torch.randn((count, unet.config.in_channels, size, size), generator=generator)
    timesteps = torch.randint(0, NUM_TRAIN_TIMESTEPS, (count,), generator=generator)
    return latents, timesteps


def has_unet(spec: str) -> bool:
    from kdata.models.resolve import resolve_model

    path = Path(resolve_model(spec)).expanduser()
    return (path / "unet").is_dir() if path.exists() else True  # a Hub id: assume an SD checkpoint
