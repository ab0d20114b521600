"""``LoraTrainConfig``: every setting of ``kcli train lora``, filled defaults < TOML file < named options < --set.

Unknown keys are errors (``kdata.config``), each value is checked here with a message that says how to
fix it, and the resolved config is saved in every checkpoint and next to the exported LoRA.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from annotated_types import Ge, Interval

from kdata.config import AtLeastOne, Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, layered_config
from kdata.errors import ConfigError
from ktrain.runtime import Precision

# The attention projections of SD's transformer blocks (self- and cross-attention), as in the diffusers
# LoRA training examples and kohya-ss' default network.
UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_ENCODER_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
LrScheduler = Literal["constant", "constant_with_warmup", "cosine", "linear"]  # transformers' get_scheduler names
LR_SCHEDULERS = get_args(LrScheduler)
# Prompts to pass as validation_prompts for a sample grid; none are rendered unless asked, since a grid of
# 2 prompts x 25 guided steps cost about 10% of a short run's wall time and most runs never look at it.
SUGGESTED_VALIDATION_PROMPTS = ["한복을 입은 여인이 한옥 마당에 서 있다", "수묵화로 그린 대나무 숲"]

# Settings that may change between a run and its resume: they do not change what is trained (the
# manifest itself is compared by fingerprint, not by path).
RESUMABLE_CHANGES = frozenset({"manifest", "out", "cache_dir", "checkpoints_total_limit", "validation_steps",
                               "validation_prompts", "progress_every", "report_to"})


@dataclass
class LoraTrainConfig:
    manifest: str = ""
    out: str = ""
    base: str = ""  # SD 1.x or SDXL: a diffusers folder, a Hub id, ``tiny-sd``/``tiny-sdxl`` or a .safetensors file
    variant: str | None = None  # weight files of this variant (``fp16``: half the download) where the base has them
    base_config: str | None = None  # a single-file base's component configs: a diffusers folder, Hub id or preset
    text_encoder: str | None = None  # a CLIPTextModel + tokenizer folder (say, the kcli Korean encoder)
    caption_col: str = "caption_ko"

    # Data: aspect-ratio buckets of about resolution² pixels, sides a multiple of bucket_step.
    resolution: AtLeastOne = 512
    bucket: bool = True
    bucket_step: AtLeastOne = 64
    bucket_max_ratio: Annotated[float, Ge(1.0)] = 2.0  # longest side over shortest side of the widest bucket
    caption_dropout: Fraction = 0.0  # share of captions replaced by "" (keeps classifier-free guidance working)
    # Chance an image is mirrored left-right when drawn (diffusers' --random_flip is 0.5).
    random_flip: Annotated[float, Interval(ge=0, le=1)] = 0.0

    # Optimisation
    max_steps: AtLeastOne = 1000  # optimizer steps
    batch_size: AtLeastOne = 4
    gradient_accumulation_steps: AtLeastOne = 1
    learning_rate: PositiveFloat = 1e-4
    weight_decay: NonNegativeFloat = 1e-2
    lr_scheduler: LrScheduler = "constant"
    lr_warmup_steps: NonNegativeInt = 0
    max_grad_norm: PositiveFloat = 1.0
    seed: int = 0
    mixed_precision: Precision = "auto"  # fp32 on CPU; bf16/fp16 on GPU with the LoRA weights kept in fp32
    gradient_checkpointing: bool = False

    # LoRA
    rank: AtLeastOne = 4
    alpha: PositiveFloat | None = None  # None: alpha = rank (scale 1)
    lora_dropout: Fraction = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(UNET_TARGETS))
    train_text_encoder: bool = False
    text_encoder_target_modules: list[str] = field(default_factory=lambda: list(TEXT_ENCODER_TARGETS))

    # Loss
    min_snr_gamma: NonNegativeFloat | None = 5.0  # Hang et al. 2023 recommend gamma = 5; None or 0 turns it off
    noise_offset: NonNegativeFloat = 0.0  # Guttenberg 2023 ("Diffusion with Offset Noise"); 0.05-0.1 is common
    # None: the base scheduler's own (epsilon for SD 1.5)
    prediction_type: Literal["epsilon", "v_prediction"] | None = None
    use_ema: bool = False
    ema_decay: Annotated[float, Interval(gt=0, lt=1)] = 0.9999

    # Caches (fingerprinted: model + image sha256 + preprocessing / caption)
    cache_latents: bool = True  # off: every step decodes and VAE-encodes its images (bytes held in memory)
    cache_text: bool = True  # ignored when the text encoder is trained (its outputs change every step)
    cache_dir: str | None = None  # default: <kcli home>/cache/lora

    # Checkpoints, validation, logging
    checkpointing_steps: AtLeastOne = 500
    checkpoints_total_limit: AtLeastOne | None = 3
    validation_steps: NonNegativeInt = 500  # validation loss (and any grid) every N steps; 0: at the end only
    validation_prompts: list[str] = field(default_factory=list)  # empty: no sample grid is rendered
    validation_seed: int = 0
    # A grid is a progress check, not a showcase: few steps, and guidance 1 skips the unconditional pass
    # (diffusers' pipeline does so when guidance_scale <= 1), so it costs about a sixth of 25 steps at guidance 7.5.
    validation_inference_steps: AtLeastOne = 8
    validation_guidance: float = 1.0
    # Training images scored with fixed noise and timesteps (the validation loss, at step 0, every
    # validation_steps and at the end). Off unless asked: each score is a UNet forward over 4 timesteps per
    # image, and at SD 1.5 size the two a short run makes cost more than its training steps (4 images: about
    # 30 s each on CPU, against 7 s a step at batch 1).
    validation_images: NonNegativeInt = 0
    progress_every: AtLeastOne = 1
    # Experiment trackers beside metrics.jsonl (ktrain.trackers).
    report_to: list[Literal["tensorboard", "wandb"]] = field(default_factory=list)
    output_name: str = "lora"  # the kohya-style file is <output_name>.safetensors

    def __post_init__(self) -> None:
        self._check_required()
        self._check_ranges()
        if self.alpha is None:
            self.alpha = float(self.rank)

    def _check_required(self) -> None:
        for name, flag in (("manifest", "--manifest"), ("out", "--out"), ("base", "--base")):
            if not getattr(self, name):
                raise ConfigError(f"{name} is required (give {flag} or set {name} in the config file)")
        if not self.caption_col:
            raise ConfigError("caption_col must name a text column of the manifest, e.g. caption_ko")
        if self.output_name in ("", "pytorch_lora_weights") or "/" in self.output_name or "\\" in self.output_name:
            raise ConfigError(f"output_name must be a plain file name other than pytorch_lora_weights, "
                              f"got {self.output_name!r}")
        if not self.target_modules:
            raise ConfigError("target_modules is empty; the usual UNet targets are " + ", ".join(UNET_TARGETS))

    def _check_ranges(self) -> None:
        # Single-value ranges are in the field types (checked by kdata.config before this runs); these are the
        # checks that need two fields, or that hold also for a config built in code.
        if self.resolution % self.bucket_step:
            raise ConfigError(f"resolution {self.resolution} must be a multiple of bucket_step {self.bucket_step}")
        if self.prediction_type not in (None, "epsilon", "v_prediction"):
            raise ConfigError(f"prediction_type must be epsilon or v_prediction, got {self.prediction_type!r}")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ConfigError(f"lr_scheduler must be one of {', '.join(LR_SCHEDULERS)}, got {self.lr_scheduler!r}")

    @property
    def lora_scale(self) -> float:
        return float(self.alpha) / self.rank  # type: ignore[arg-type]

    @property
    def uses_text_cache(self) -> bool:
        return self.cache_text and not self.train_text_encoder

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_lora_config(config_file: str | Path | None = None, *, sets: list[str] | None = None,
                     **overrides: Any) -> LoraTrainConfig:
    """Defaults < ``config_file`` (TOML, flat keys) < ``overrides`` (named options; ``None`` means unset) < ``sets``
    (raw ``--set KEY=VALUE`` items), as :mod:`kdata.config` documents."""
    return layered_config(LoraTrainConfig, config_file, overrides, sets, where="lora config")


def changed_settings(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Settings that differ between a checkpoint's config and this run's, except the harmless ones."""
    keys = sorted((set(saved) | set(current)) - RESUMABLE_CHANGES)
    return [k for k in keys if saved.get(k) != current.get(k)]
