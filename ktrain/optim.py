"""Optimizer and learning-rate schedule shared by the trainers.

Weight decay is not applied to biases, normalisation weights or embeddings (the usual AdamW recipe from
BERT/GPT training: decaying them hurts and regularises nothing useful).
"""

from __future__ import annotations

from typing import Any


def _no_decay_param_ids(model: Any) -> set[int]:
    """Parameters of embeddings and normalisation layers, found by module type (names vary by model)."""
    import torch

    skip_types = (torch.nn.Embedding, torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.modules.batchnorm._BatchNorm)
    ids: set[int] = set()
    for module in model.modules():
        if isinstance(module, skip_types):
            ids.update(id(p) for p in module.parameters(recurse=False))
    return ids


def decay_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW parameter groups over the trainable parameters: decayed, and not (biases, norms, embeddings)."""
    skip = _no_decay_param_ids(model)
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or id(param) in skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(
    model: Any, lr: float, weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> Any:
    import torch

    groups = [g for g in decay_groups(model, weight_decay) if g["params"]]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def build_scheduler(optimizer: Any, name: str, warmup_steps: int, total_steps: int) -> Any:
    """``cosine`` (with linear warm-up), ``linear`` or ``constant`` — transformers' implementations."""
    from transformers import get_scheduler

    from kdata.errors import ConfigError

    if name not in ("cosine", "linear", "constant", "constant_with_warmup"):
        raise ConfigError(f"unknown lr schedule {name!r}; valid: cosine, linear, constant, constant_with_warmup")
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)
