"""Everything one encoder training run needs, built once: data, tokenizer, teacher, student, UNet, caches.

Kept apart from the loop so the loop reads top-down and a test can build a run without training it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError, KcliError
from kdata.progress import ProgressCallback
from ktrain.encoder.config import EncoderTrainConfig
from ktrain.encoder.data import ParallelCorpus, load_parallel
from ktrain.encoder.encoding import (
    check_unet_reads,
    checkpoint_unet,
    encode_texts,
    has_unet,
    load_unet,
    unet_reads,
)
from ktrain.encoder.evaluate import DenoiseProbe
from ktrain.encoder.export import tokenizer_folder
from ktrain.encoder.student import (
    check_compatible,
    init_student_from_teacher,
    load_teacher_tokenizer,
    load_text_encoder,
)
from ktrain.encoder.teacher_cache import TeacherEncoder, TeacherOutputs, build_teacher_cache
from ktrain.encoder.tokenizer import INFO_FILE, TokenizerTrainConfig, load_tokenizer, save_tokenizer, train_clip_bpe
from ktrain.runtime import DataCursor

TOKENIZER_DIR = "tokenizer"


@dataclass
class EncoderRun:
    config: EncoderTrainConfig
    corpus: ParallelCorpus
    tokenizer: Any  # the student's
    teacher: Any
    student: Any
    unet: Any | None  # loaded when the teacher has one the encoder can drive alone (SD 1.x/2.x)
    train_cache: TeacherOutputs  # the teacher's outputs for the train split: on demand, in memory or on disk
    validation_states: Any
    validation_pooled: Any
    probe: DenoiseProbe | None
    validation_null_mse: float | None = None  # the empty prompt's denoising MSE on validation: 1.0 relative
    unet_scale: float = 1.0  # the same on a training sample: divides the through-UNet loss
    cursor: DataCursor = field(default_factory=DataCursor)  # this process's place in the global batch stream


def student_tokenizer(config: EncoderTrainConfig, corpus: ParallelCorpus, out: Path, is_main: bool) -> Any:
    """The given tokenizer; the Korean model's own; this run's saved one (resume); or a new one, trained here."""
    if config.tokenizer:
        return load_tokenizer(config.tokenizer)
    if config.student_init != "teacher":
        return load_tokenizer(config.student_init, tokenizer_folder(config.text_encoder_subfolder))
    saved = out / TOKENIZER_DIR
    if (saved / INFO_FILE).exists():
        return load_tokenizer(saved)
    tok_config = TokenizerTrainConfig(vocab_size=config.vocab_size, min_frequency=config.min_frequency)
    tokenizer = train_clip_bpe(corpus.train.ko, tok_config)
    if is_main:
        info = {"pairs": str(corpus.path), "fingerprint": corpus.fingerprint, "config": tok_config.__dict__,
                "texts": len(corpus.train), "vocab_size": len(tokenizer)}
        save_tokenizer(tokenizer, saved, info)
    return tokenizer


def build_student(config: EncoderTrainConfig, teacher: Any, teacher_tokenizer: Any, tokenizer: Any) -> Any:
    if config.student_init == "teacher":
        student = init_student_from_teacher(teacher, teacher_tokenizer, tokenizer)
    else:
        import torch

        student = load_text_encoder(config.student_init, config.text_encoder_subfolder, dtype=torch.float32)
    check_compatible(student, teacher, tokenizer)
    student.requires_grad_(True)
    return student.train()


def maybe_unet(config: EncoderTrainConfig, teacher: Any, dtype: Any, device: Any) -> Any | None:
    """The frozen UNet, needed by the through-UNet objective and for the denoising-agreement metric."""
    if not has_unet(config.teacher) or config.hidden_layer != -1:
        if config.unet_weight > 0:
            raise ConfigError(f"unet_weight > 0 needs a Stable Diffusion teacher with a UNet the encoder drives "
                              f"alone (hidden_layer -1); {config.teacher!r} has none; set unet_weight = 0")
        return None
    try:
        unet = load_unet(config.teacher, dtype=dtype).to(device)
    except KcliError:  # a Hub id that turned out to be a bare CLIP text model: fine without the UNet term
        if config.unet_weight > 0:
            raise
        return None
    if config.unet_weight > 0:
        check_unet_reads(unet, teacher.config.hidden_size)
        if config.gradient_checkpointing:
            checkpoint_unet(unet)
    return unet if unet_reads(unet, teacher.config.hidden_size) else None


def build_run(config: EncoderTrainConfig, accelerator: Any, progress: ProgressCallback | None = None) -> EncoderRun:
    from ktrain.runtime import weight_dtype

    out, device, dtype = Path(config.out), accelerator.device, weight_dtype(accelerator)
    corpus = load_parallel(config.pairs, config.validation_fraction)
    teacher = load_text_encoder(config.teacher, config.text_encoder_subfolder, dtype=dtype).to(device).eval()
    teacher.requires_grad_(False)
    teacher_tokenizer = load_teacher_tokenizer(config.teacher, tokenizer_folder(config.text_encoder_subfolder))
    with accelerator.main_process_first():  # written into OUT only once everything it depends on has loaded
        tokenizer = student_tokenizer(config, corpus, out, accelerator.is_main_process)
    student = build_student(config, teacher, teacher_tokenizer, tokenizer).to(device)
    unet = maybe_unet(config, teacher, dtype, device)
    encoder = TeacherEncoder(teacher, teacher_tokenizer, config.hidden_layer, device)
    train_cache = build_teacher_cache(config, encoder, corpus.train, accelerator, progress)
    run = EncoderRun(config, corpus, tokenizer, teacher, student, unet, train_cache, None, None, None,
                     cursor=DataCursor(accelerator.num_processes, accelerator.process_index))
    if len(corpus.validation):
        run.validation_states, run.validation_pooled = encode_texts(
            teacher, teacher_tokenizer, corpus.validation.en, config.hidden_layer, device=device)
    if unet is not None:
        attach_probe(run, teacher_tokenizer)
    return run


def attach_probe(run: EncoderRun, teacher_tokenizer: Any) -> None:
    """Fixed latents for validation, and the empty prompt's denoising MSE that scales the UNet term and metric."""
    config = run.config
    device = run.train_cache.device
    null_states = encode_texts(run.teacher, teacher_tokenizer, [""], config.hidden_layer, device=device)[0]
    run.probe = DenoiseProbe.build(run.unet, config.eval_latents, tuple(config.eval_timesteps), config.seed,
                                   config.unet_latent_size, null_states)
    sample = list(range(min(64, len(run.corpus.train))))
    run.unet_scale = run.probe.null_agreement(run.train_cache.get(sample)[0].cpu()) or 1.0
    if run.validation_states is not None:
        run.validation_null_mse = run.probe.null_agreement(run.validation_states)
