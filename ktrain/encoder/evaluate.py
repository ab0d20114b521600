"""``kcli eval encoder``: how well a Korean student stands in for the English teacher, on held-out pairs.

- Retrieval: for each held-out Korean sentence, rank the teacher's pooled outputs of *all* held-out
  English candidates by cosine similarity to the student's pooled output; R@1 / R@5 are the fractions
  whose own translation ranks first / in the top five (chance: 1/N and 5/N). Ties count against.
- Mean cosine between student(ko) and teacher(en) pooled outputs of the same pair.
- Denoising agreement: the MSE between the frozen UNet's noise predictions under student(ko) and under
  teacher(en), averaged over pairs, a fixed set of latents (seeded) and fixed timesteps. This is the
  number that says whether the UNet would draw the same thing from the Korean prompt; lower is better.
  ``denoise_relative`` divides it by the same MSE for the empty prompt (what classifier-free guidance
  uses as "no prompt"): 0 is the teacher's own prediction, 1 is as uninformative as no prompt at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.deps import require
from ktrain.encoder.encoding import encode_texts

DEFAULT_TIMESTEPS = (100, 300, 500, 700, 900)
GREATER_IS_BETTER = {"r_at_1": True, "r_at_5": True, "mean_cosine": True, "denoise_mse": False,
                     "denoise_relative": False}


@dataclass
class DenoiseProbe:
    """Fixed noisy latents and timesteps, so every evaluation of every model sees the same UNet inputs."""

    unet: Any
    latents: Any  # (num_latents, channels, size, size)
    timesteps: tuple[int, ...]
    batch_size: int = 16
    null_states: Any = None  # the teacher's states for the empty prompt, (1, tokens, dim)
    _cache: Any = field(default=None, repr=False)

    @classmethod
    def build(cls, unet: Any, num_latents: int = 2, timesteps: tuple[int, ...] = DEFAULT_TIMESTEPS, seed: int = 0,
              latent_size: int | None = None, null_states: Any = None) -> DenoiseProbe:
        torch = require("torch", "torch")
        size = latent_size or unet.config.sample_size
        generator = torch.Generator().manual_seed(seed)
        latents = torch.randn((num_latents, unet.config.in_channels, size, size), generator=generator)
        return cls(unet, latents, tuple(int(t) for t in timesteps), null_states=null_states)

    def null_agreement(self, teacher_states: Any) -> float:
        """The agreement an empty prompt reaches: the scale that ``denoise_relative`` divides by."""
        return self.agreement(self.null_states.expand(len(teacher_states), -1, -1), teacher_states)

    def agreement(self, student_states: Any, teacher_states: Any) -> float:
        """Mean over pairs, latents and timesteps of the per-sample MSE between the two noise predictions."""
        torch = require("torch", "torch")
        targets = self._targets(teacher_states)
        total = 0.0
        with torch.no_grad():
            for (latent, step, start), target in zip(self._grid(len(student_states)), targets):
                predicted = self._predict(latent, step, student_states[start : start + self.batch_size])
                total += (predicted - target).pow(2).mean(dim=(1, 2, 3)).sum().item()
        return total / max(len(student_states) * len(self.latents) * len(self.timesteps), 1)

    def _grid(self, count: int) -> list[tuple[Any, int, int]]:
        return [(latent, step, start) for latent in self.latents for step in self.timesteps
                for start in range(0, count, self.batch_size)]

    def _predict(self, latent: Any, step: int, states: Any) -> Any:
        torch = require("torch", "torch")
        param = next(self.unet.parameters())
        x = latent.expand(len(states), *latent.shape).to(param.device, param.dtype)
        steps = torch.full((len(states),), step, device=param.device)
        return self.unet(x, steps, encoder_hidden_states=states.to(param.device, param.dtype)).sample.float()

    def _targets(self, teacher_states: Any) -> list[Any]:
        """The teacher's predictions, kept for the last ``teacher_states`` seen (validation reuses them)."""
        torch = require("torch", "torch")
        if self._cache is None or self._cache[0] is not teacher_states:
            with torch.no_grad():
                grid = self._grid(len(teacher_states))
                predictions = [self._predict(latent, step, teacher_states[start : start + self.batch_size])
                               for latent, step, start in grid]
            self._cache = (teacher_states, predictions)
        return self._cache[1]


def retrieval_metrics(student_pooled: Any, teacher_pooled: Any) -> dict[str, float]:
    """R@1, R@5 and mean cosine of row i of ``student_pooled`` against all rows of ``teacher_pooled``."""
    import torch.nn.functional as F

    similarity = F.normalize(student_pooled.float(), dim=-1) @ F.normalize(teacher_pooled.float(), dim=-1).T
    own = similarity.diagonal()
    rank = (similarity >= own[:, None]).sum(dim=1) - 1  # candidates at least as close as the right one
    n = len(own)
    return {
        "r_at_1": (rank < 1).float().mean().item(),
        "r_at_5": (rank < 5).float().mean().item(),
        "mean_cosine": own.mean().item(),
        "chance_r_at_1": 1.0 / n,
        "chance_r_at_5": min(5, n) / n,
    }


def score(student: Any, tokenizer: Any, texts: list[str], teacher_states: Any, teacher_pooled: Any,
          probe: DenoiseProbe | None, null_mse: float | None = None, hidden_layer: int = -1,
          device: Any = "cpu") -> dict[str, Any]:
    """All metrics for ``student`` reading ``texts`` against the teacher's (precomputed) outputs of their pairs;
    ``null_mse`` is ``probe.null_agreement(teacher_states)``, computed once by the caller."""
    was_training = student.training
    student.eval()
    states, pooled = encode_texts(student, tokenizer, texts, hidden_layer, device=device)
    student.train(was_training)
    metrics: dict[str, Any] = {"pairs": len(texts), **retrieval_metrics(pooled, teacher_pooled),
                               "denoise_mse": None, "denoise_relative": None}
    if probe is not None:
        metrics["denoise_mse"] = probe.agreement(states, teacher_states)
        metrics["denoise_relative"] = metrics["denoise_mse"] / null_mse if null_mse else None
    return metrics


def evaluate_encoder(model: str | Path, pairs: str | Path, teacher: str, split: str = "validation",
                     num_latents: int = 2, timesteps: tuple[int, ...] = DEFAULT_TIMESTEPS, seed: int = 0,
                     reference: bool = False, validation_fraction: float = 0.1,
                     latent_size: int | None = None) -> dict[str, Any]:
    """Evaluate an exported encoder (``kcli train encoder``'s ``best/`` or ``final/``, or any export folder)."""
    from ktrain.encoder.data import load_parallel
    from ktrain.encoder.encoding import has_unet, load_unet, unet_reads
    from ktrain.encoder.export import load_export_component
    from ktrain.encoder.student import load_teacher_tokenizer, load_text_encoder

    student, tokenizer, info = load_export_component(model)
    layer = int(info.get("hidden_layer", -1))
    subfolder = info.get("component", "text_encoder")
    teacher_model = load_text_encoder(teacher, subfolder).eval()
    teacher_tokenizer = load_teacher_tokenizer(teacher, subfolder.replace("text_encoder", "tokenizer"))
    held_out = load_parallel(pairs, validation_fraction).split(split)
    t_states, t_pooled = encode_texts(teacher_model, teacher_tokenizer, held_out.en, layer)
    probe = null_mse = None
    if has_unet(teacher) and layer == -1:
        unet = load_unet(teacher)
        if unet_reads(unet, teacher_model.config.hidden_size):
            null_states = encode_texts(teacher_model, teacher_tokenizer, [""], layer)[0]
            probe = DenoiseProbe.build(unet, num_latents, timesteps, seed, latent_size, null_states)
            null_mse = probe.null_agreement(t_states)
    result = {"model": str(model), "teacher": teacher, "split": split, "timesteps": list(timesteps),
              "latents": num_latents, "latent_size": latent_size, "null_denoise_mse": null_mse,
              **score(student, tokenizer, held_out.ko, t_states, t_pooled, probe, null_mse, layer)}
    if reference:  # the teacher itself reading the Korean text through byte fallback: what no training gives
        result["reference"] = score(teacher_model, teacher_tokenizer, held_out.ko, t_states, t_pooled, probe,
                                    null_mse, layer)
    return result
