"""``EncoderTrainConfig``: every setting of ``kcli train encoder``, filled defaults < TOML file < named options < --set.

Unknown keys are errors (kdata.config). The resolved config is saved in every checkpoint and export.
Objectives are switched on by a positive weight; the baseline of earlier Korean CLIP work is
``sequence_weight = 0, unet_weight = 0`` (pooled MSE only).

Settings that fit both a short demo and a seed-scale run:

- **Warm-up** lasts ``min(warmup_steps, floor(warmup_fraction * max_steps))`` optimizer steps
  (:attr:`EncoderTrainConfig.effective_warmup_steps`). ``warmup_steps = 100`` suits the default 2,000-step run
  (5%) but would leave ``--max-steps 40`` warming up for the whole run, never at the peak rate; capped at 10%
  of the run, those 40 steps warm up for 4. The effective value is logged, written to ``metrics.jsonl``
  (the ``step 0`` line), to every checkpoint and export, and to the result's ``schedule``.
- **gradient_checkpointing** (on by default; it only acts when ``unet_weight > 0``): the through-UNet term
  backpropagates through the frozen UNet into the student's states, so without it every UNet activation of the
  batch is kept for the backward pass. diffusers' checkpointing keeps only each block's inputs and recomputes
  the rest during backward: the same losses and gradients (tested), one more UNet forward per step.
- **Teacher cache**: the teacher's outputs never change for a given text, so they are computed once.
  ``teacher_cache = "auto"`` holds them in memory when they fit in ``cache_limit_mb``, else on disk;
  ``"memory"`` / ``"disk"`` force one; ``cache_teacher = false`` runs the teacher at every step instead. On
  disk (:mod:`ktrain.encoder.teacher_cache`) they are memory-mapped shards of ``teacher_cache_shard_rows``
  pairs under ``teacher_cache_dir`` (default ``OUT/teacher-cache``; point several runs at one folder to
  share it), filled before training and resumable after a kill.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from annotated_types import Lt

from kdata.config import AtLeastOne, Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, layered_config
from kdata.errors import ConfigError
from ktrain.encoder.evaluate import DEFAULT_TIMESTEPS, GREATER_IS_BETTER
from ktrain.runtime import Precision

Schedule = Literal["cosine", "linear", "constant", "constant_with_warmup"]
SCHEDULES = get_args(Schedule)
TeacherCacheMode = Literal["auto", "memory", "disk"]
TEACHER_CACHE_MODES = get_args(TeacherCacheMode)
BestMetric = Literal[tuple(GREATER_IS_BETTER)]  # type: ignore[valid-type]  # the metrics evaluate.py computes
# Settings that may differ when a run is resumed: they change no result, only bookkeeping, memory or where the
# teacher's outputs are kept (the same values, up to float rounding of how they were batched).
RESUMABLE_CHANGES = frozenset({"checkpoints_total_limit", "log_every", "report_to", "gradient_checkpointing",
                               "cache_teacher", "cache_limit_mb", "teacher_cache", "teacher_cache_dir",
                               "teacher_cache_shard_rows"})


@dataclass
class EncoderTrainConfig:
    # What to train on and from.
    pairs: str = ""  # a parallel manifest (kdata kind "parallel")
    teacher: str = ""  # SD checkpoint: preset (tiny-sd), diffusers folder or Hub id; or a CLIP text model
    out: str = ""
    tokenizer: str | None = None  # None: train one on the pairs' Korean side into OUT/tokenizer
    student_init: str = "teacher"  # "teacher", or a Korean CLIP text model (folder / Hub id) to start from
    text_encoder_subfolder: str = "text_encoder"  # SDXL's second encoder: "text_encoder_2"
    hidden_layer: Annotated[int, Lt(0)] = -1  # the states the UNet reads: -1 last (SD 1.x/2.x), -2 penultimate (SDXL)
    vocab_size: AtLeastOne = 32000  # for the tokenizer trained when `tokenizer` is None
    min_frequency: AtLeastOne = 2
    validation_fraction: Fraction = 0.1  # held out of train when the manifest has no validation rows
    # Objectives: a weight of 0 switches one off.
    pooled_weight: NonNegativeFloat = 1.0  # student(ko) pooled vs teacher(en) pooled (the baseline)
    english_weight: NonNegativeFloat = 1.0  # student(en) pooled vs teacher(en) pooled (keeps English working)
    sequence_weight: NonNegativeFloat = 1.0  # soft-attention alignment of the token states the UNet reads
    sequence_temperature: PositiveFloat = 0.05
    unet_weight: NonNegativeFloat = 1.0  # frozen UNet: noise prediction under student(ko) vs teacher(en)
    # None: the UNet's sample size (smaller is cheaper; the UNet is convolutional)
    unet_latent_size: AtLeastOne | None = None
    # Optimisation.
    max_steps: AtLeastOne = 2000
    batch_size: AtLeastOne = 32
    gradient_accumulation_steps: AtLeastOne = 1
    learning_rate: PositiveFloat = 5e-5
    weight_decay: NonNegativeFloat = 0.01
    lr_scheduler: Schedule = "cosine"
    warmup_steps: NonNegativeInt = 100  # at most warmup_fraction of the run: see effective_warmup_steps
    warmup_fraction: Fraction = 0.1
    max_grad_norm: PositiveFloat = 1.0
    seed: int = 0
    mixed_precision: Precision = "auto"  # fp32 on CPU; bf16/fp16 on GPU
    gradient_checkpointing: bool = True  # through the frozen UNet (unet_weight > 0): less memory, same gradients
    # The teacher's outputs for the train pairs: "auto" keeps them in memory up to cache_limit_mb, else on disk.
    cache_teacher: bool = True  # false: run the teacher at every step instead
    cache_limit_mb: NonNegativeFloat = 2048.0
    teacher_cache: TeacherCacheMode = "auto"  # "auto", "memory" or "disk"
    teacher_cache_dir: str | None = None  # None: OUT/teacher-cache
    teacher_cache_shard_rows: AtLeastOne = 1024  # pairs per shard (SD 1.x: 234 KiB a pair, 234 MiB a shard)
    # Checkpoints, evaluation, logging. Validation runs at every checkpoint, so the best one is always on disk.
    checkpoint_every: AtLeastOne = 200
    checkpoints_total_limit: AtLeastOne | None = 3
    # What the UNet draws is the point, so the best checkpoint is by held-out denoising agreement relative to
    # the empty prompt; a teacher without a UNet falls back to mean_cosine.
    best_metric: BestMetric = "denoise_relative"
    eval_latents: AtLeastOne = 2
    eval_timesteps: list[NonNegativeInt] = field(default_factory=lambda: list(DEFAULT_TIMESTEPS))
    log_every: AtLeastOne = 10
    # Experiment trackers beside metrics.jsonl (ktrain.trackers).
    report_to: list[Literal["tensorboard", "wandb"]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # One-field ranges and choices are in the field types, checked by kdata.config before this runs; what is
        # left needs several fields at once.
        if min(self.weights.values()) < 0 or max(self.weights.values()) <= 0:
            raise ConfigError("objective weights must be >= 0 and at least one > 0 "
                              f"(pooled_weight, english_weight, sequence_weight, unet_weight); got {self.weights}")

    @property
    def effective_warmup_steps(self) -> int:
        """The warm-up the schedule gets: ``warmup_steps``, but never more than ``warmup_fraction`` of the run, so a
        short run reaches its peak rate too (the default 2,000 steps keep all 100)."""
        return capped_warmup(self.warmup_steps, self.warmup_fraction, self.max_steps)

    @property
    def weights(self) -> dict[str, float]:
        return {"pooled": self.pooled_weight, "english": self.english_weight, "sequence": self.sequence_weight,
                "unet": self.unet_weight}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def capped_warmup(warmup_steps: int, fraction: float, max_steps: int) -> int:
    return min(warmup_steps, math.floor(fraction * max_steps))


def load_train_config(file: str | Path | None = None, *, sets: list[str] | None = None,
                      **options: Any) -> EncoderTrainConfig:
    """Defaults < ``file`` (TOML) < named ``options`` (``--pairs``, ``--max-steps``...; ``None`` means unset) <
    ``sets`` (raw ``--set KEY=VALUE`` items), as :mod:`kdata.config` documents."""
    config = layered_config(EncoderTrainConfig, file, options, sets, where="config")
    for name in ("pairs", "teacher", "out"):
        if not getattr(config, name):
            raise ConfigError(f"{name} is required (--{name} or `{name} = ...` in the config file)")
    return config


def changed_settings(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Settings that differ between a checkpoint's config and this run's (resuming needs the same run).

    A setting added after the checkpoint was written counts as its default there, except the warm-up cap: a
    checkpoint without ``warmup_fraction`` warmed up for its whole ``warmup_steps``, so what is compared is the
    warm-up this run would get (``--set warmup_fraction=...`` can match it)."""
    older = "warmup_fraction" not in saved
    saved = {**{k: v for k, v in EncoderTrainConfig().to_dict().items() if k not in saved}, **saved}
    keys = sorted(set(saved) | set(current))
    changed = [k for k in keys if k not in RESUMABLE_CHANGES and saved.get(k) != current.get(k)]
    if older:
        changed = [k for k in changed if k != "warmup_fraction"]
        if saved["warmup_steps"] != capped_warmup(current["warmup_steps"], current["warmup_fraction"],
                                                  current["max_steps"]):
            changed.append("warmup_fraction")
    return changed
