"""The training runtime: one ``Accelerator`` configured the same way for every trainer.

CPU runs in fp32 (bf16 matmuls on CPUs without bf16 units run hundreds of times slower than fp32,
measured on this project's reference machine); a GPU gets mixed precision with the trainable weights
kept in fp32, as diffusers' training examples do.
"""

from __future__ import annotations

from typing import Any

from kdata.errors import ConfigError

PRECISIONS = ("auto", "no", "fp16", "bf16")


def resolve_precision(requested: str, cuda_available: bool, bf16_supported: bool) -> str:
    """``auto`` picks bf16 on GPUs that support it, fp16 on older GPUs, and fp32 (``no``) on CPU."""
    if requested not in PRECISIONS:
        raise ConfigError(f"mixed_precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if not cuda_available:
        return "no"
    if requested == "auto":
        return "bf16" if bf16_supported else "fp16"
    return requested


def make_accelerator(mixed_precision: str = "auto", gradient_accumulation_steps: int = 1, seed: int = 0) -> Any:
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    cuda = torch.cuda.is_available()
    precision = resolve_precision(mixed_precision, cuda, cuda and torch.cuda.is_bf16_supported())
    accelerator = Accelerator(mixed_precision=precision, gradient_accumulation_steps=gradient_accumulation_steps)
    set_seed(seed)
    return accelerator


def weight_dtype(accelerator: Any) -> Any:
    """The dtype for frozen weights (VAE, teacher, UNet without LoRA): half precision only on GPU."""
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)
