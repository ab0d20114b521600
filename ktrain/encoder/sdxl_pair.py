"""A Korean encoder pair for SDXL: both students distilled together, exported to replace both teachers.

SDXL conditions its UNet on two text encoders at once (Podell et al., 2023): the penultimate hidden states
of CLIP ViT-L (``text_encoder``) and of OpenCLIP bigG (``text_encoder_2``) concatenated along the feature
axis into the cross-attention context, and bigG's pooled projection (``text_embeds``) added to the time
embedding beside the size/crop ``time_ids``. Training the two students apart would match each half, but not
the context the UNet actually reads, nor the pooled path. So the pair is trained as one model:

- ``states``: :func:`~ktrain.encoder.losses.soft_alignment_mse` between the students' concatenated
  penultimate states (Korean) and the teachers' (English): token positions of the two languages do not
  correspond, and cross-attention ignores context order;
- ``pooled``: MSE between the second student's ``text_embeds`` and the second teacher's;
- ``unet``: :func:`~ktrain.encoder.losses.sdxl_unet_noise_mse` through the frozen SDXL UNet, with the added
  conditioning (``text_embeds``, ``time_ids`` of an uncropped image at the base's native size).

Both students read one Korean tokenizer (CLIP-format BPE), initialised from their teachers
(:func:`~ktrain.encoder.student.init_student_from_teacher`). The export is a folder with ``text_encoder/``,
``tokenizer/``, ``text_encoder_2/``, ``tokenizer_2/`` and ``kcli_encoder.json``: handed to an unchanged
``StableDiffusionXLPipeline.from_pretrained(base, text_encoder=..., ...)``
(:func:`ktrain.encoder.export.load_pipeline`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from kdata.progress import ProgressCallback, ProgressEvent, notify
from ktrain.encoder.encoding import tokenize
from ktrain.encoder.losses import pooled_mse, sdxl_unet_noise_mse, soft_alignment_mse, weighted_total

PENULTIMATE = -2  # SDXL reads both encoders' penultimate hidden states ("clip skip")
COMPONENTS = ("text_encoder", "text_encoder_2")


@dataclass
class SDXLPairConfig:
    base: str  # an SDXL pipeline: tiny-sdxl, a diffusers folder or stabilityai/stable-diffusion-xl-base-1.0
    tokenizer: str  # the Korean CLIP-format tokenizer folder (kcli tokenizer train)
    out: str
    steps: int = 100
    batch_size: int = 8
    learning_rate: float = 1e-4
    weights: dict[str, float] = field(default_factory=lambda: {"states": 1.0, "pooled": 1.0, "unet": 1.0})
    seed: int = 0
    pairs: str | None = None  # the parallel manifest trained on (train_sdxl_pair_on_manifest), for lineage
    pairs_fingerprint: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        unknown = set(self.weights) - {"states", "pooled", "unet"}
        if unknown:
            raise ConfigError(f"unknown loss weights {sorted(unknown)}; valid: states, pooled, unet")


@dataclass
class Teachers:
    encoders: tuple[Any, Any]
    tokenizers: tuple[Any, Any]
    unet: Any
    image_size: int  # the base's native side in pixels, for time_ids


@dataclass
class SDXLPairResult:
    out: Path
    losses: list[dict[str, float]]  # one entry per step: every term and the weighted total

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "steps": len(self.losses), "first_loss": self.losses[0] if self.losses else None,
                "final_loss": self.losses[-1] if self.losses else None}


def load_teachers(base: str) -> Teachers:
    """Both frozen teacher encoders, their tokenizers and the frozen UNet of an SDXL pipeline."""
    from kdata.models.resolve import load_errors, resolve_model
    from ktrain.encoder.encoding import load_unet
    from ktrain.encoder.student import load_teacher_tokenizer, load_text_encoder

    unet = load_unet(base)  # first: an SD 1.x base is refused before its missing second encoder is looked for
    if getattr(unet.config, "addition_embed_type", None) != "text_time":
        raise ConfigError(f"base {base}: its UNet has no text_time conditioning (not SDXL); the pair needs an SDXL "
                          "base, e.g. stabilityai/stable-diffusion-xl-base-1.0 or tiny-sdxl")
    encoders = tuple(load_text_encoder(base, subfolder=c).eval().requires_grad_(False) for c in COMPONENTS)
    tokenizers = (load_teacher_tokenizer(base, "tokenizer"), load_teacher_tokenizer(base, "tokenizer_2"))
    with load_errors(base, "VAE config"):
        from diffusers import AutoencoderKL

        scale = 2 ** (len(AutoencoderKL.load_config(resolve_model(base), subfolder="vae")["block_out_channels"]) - 1)
    return Teachers(encoders, tokenizers, unet, int(unet.config.sample_size) * scale)


def init_students(teachers: Teachers, korean_tokenizer: Any) -> tuple[Any, Any]:
    from ktrain.encoder.student import init_student_from_teacher

    return tuple(init_student_from_teacher(encoder, tokenizer, korean_tokenizer).train()
                 for encoder, tokenizer in zip(teachers.encoders, teachers.tokenizers))


def encode_pair(encoders: tuple[Any, Any], ids: tuple[Any, Any]) -> tuple[Any, Any]:
    """(concatenated penultimate states, second encoder's text_embeds): what SDXL's UNet reads."""
    first = encoders[0](input_ids=ids[0], output_hidden_states=True)
    second = encoders[1](input_ids=ids[1], output_hidden_states=True)
    import torch

    states = torch.cat([first.hidden_states[PENULTIMATE], second.hidden_states[PENULTIMATE]], dim=-1)
    return states, second.text_embeds


def time_ids(image_size: int, count: int) -> Any:
    """SDXL's micro-conditioning for an uncropped square image at native size: (h, w, top, left, h, w)."""
    import torch

    return torch.tensor([[image_size, image_size, 0, 0, image_size, image_size]] * count, dtype=torch.float32)


def pair_losses(students: tuple[Any, Any], teachers: Teachers, korean_ids: Any, english: list[str],
                generator: Any) -> dict[str, Any]:
    """Every objective for one batch (see the module docstring)."""
    import torch

    from ktrain.encoder.encoding import unet_inputs

    with torch.no_grad():
        teacher_ids = tuple(tokenize(t, english) for t in teachers.tokenizers)
        teacher_states, teacher_pooled = encode_pair(teachers.encoders, teacher_ids)
        latents, timesteps = unet_inputs(teachers.unet, len(english), generator)
        ids = time_ids(teachers.image_size, len(english))
        teacher_prediction = teachers.unet(latents, timesteps, encoder_hidden_states=teacher_states,
                                           added_cond_kwargs={"text_embeds": teacher_pooled, "time_ids": ids}).sample
    states, pooled = encode_pair(students, (korean_ids, korean_ids))
    return {"states": soft_alignment_mse(states, teacher_states), "pooled": pooled_mse(pooled, teacher_pooled),
            "unet": sdxl_unet_noise_mse(teachers.unet, latents, timesteps, states, pooled, ids, teacher_prediction)}


def train_sdxl_pair(config: SDXLPairConfig, pairs: list[tuple[str, str]],
                    progress: ProgressCallback | None = None) -> SDXLPairResult:
    """Distil the pair on (korean, english) ``pairs`` for ``config.steps`` steps, then export it to ``config.out``."""
    import torch

    from ktrain.encoder.tokenizer import load_tokenizer

    if not pairs:
        raise ConfigError("no (ko, en) pairs to train on")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    teachers = load_teachers(config.base)
    korean_tokenizer = load_tokenizer(config.tokenizer)
    students = init_students(teachers, korean_tokenizer)
    optimizer = torch.optim.AdamW([p for s in students for p in s.parameters()], lr=config.learning_rate)
    history: list[dict[str, float]] = []
    for step in range(config.steps):
        start = (step * config.batch_size) % len(pairs)
        batch = [pairs[(start + i) % len(pairs)] for i in range(min(config.batch_size, len(pairs)))]
        losses = pair_losses(students, teachers, tokenize(korean_tokenizer, [ko for ko, _ in batch]),
                             [en for _, en in batch], generator)
        total = weighted_total(losses, config.weights)
        value = float(total.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"step {step}: the loss is {value}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        history.append({**{k: float(v.detach()) for k, v in losses.items()}, "total": value})
        notify(progress, ProgressEvent("train", step + 1, config.steps, "steps"))
    out = export_pair(config, students, korean_tokenizer, history)
    return SDXLPairResult(out, history)


def train_sdxl_pair_on_manifest(config: SDXLPairConfig, progress: ProgressCallback | None = None) -> SDXLPairResult:
    """:func:`train_sdxl_pair` on the train split of the parallel manifest ``config.pairs`` (its fingerprint
    goes into the export's record)."""
    from dataclasses import replace

    from ktrain.encoder.data import load_parallel

    if not config.pairs:
        raise ConfigError("give the parallel manifest to train on (--pairs)")
    corpus = load_parallel(config.pairs, validation_fraction=0.0)
    config = replace(config, pairs_fingerprint=corpus.fingerprint)
    return train_sdxl_pair(config, list(zip(corpus.train.ko, corpus.train.en)), progress)


def export_pair(config: SDXLPairConfig, students: tuple[Any, Any], korean_tokenizer: Any,
                history: list[dict[str, float]]) -> Path:
    """Both students (with the Korean tokenizer beside each) in the layout ``StableDiffusionXLPipeline`` takes."""
    from kdata import __version__
    from ktrain.encoder.export import export_encoder

    info = {"teacher": config.base, "config": asdict(config), "trained_as": "sdxl-pair", "steps": len(history),
            "final_loss": history[-1] if history else None, "kcli_version": __version__}
    for component, student in zip(COMPONENTS, students):
        export_encoder(config.out, student.eval(), korean_tokenizer, info, component)
    return Path(config.out)
