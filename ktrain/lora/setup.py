"""Everything a LoRA training run needs before its first step, gathered into one :class:`Trainer`.

Order matters for the user: the manifest is read and checked first (:func:`load_data`, no model loaded
yet), then the frozen base is loaded, the caches are filled (the encoders run here, once), and only then
is the LoRA added and the optimizer built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from kdata.progress import ProgressCallback
from ktrain.lora.batches import BatchPlan
from ktrain.lora.cache import EncodingCache, LatentSource, TextSource
from ktrain.lora.config import LoraTrainConfig
from ktrain.lora.data import TrainingData, load_training_data, make_buckets, open_training_manifest
from ktrain.lora.models import SDComponents, add_lora, load_components
from ktrain.lora.timing import NO_TIMER, StepTimer


@dataclass
class Trainer:
    """Everything one training run holds; the loop's helpers take it instead of a dozen arguments."""

    config: LoraTrainConfig
    accelerator: Any
    components: SDComponents
    data: TrainingData
    latents: LatentSource
    texts: TextSource
    plan: BatchPlan
    unet: Any
    text_encoder: Any | None  # set only when it is trained
    params: list[Any]
    optimizer: Any
    scheduler: Any
    prediction_type: str
    ema: Any | None = None
    timer: StepTimer = NO_TIMER
    text_encoder_2: Any | None = None  # SDXL's second encoder, set only when the text encoders are trained

    @property
    def modules(self) -> list[Any]:
        return list(self.named().values())

    def named(self) -> dict[str, Any]:
        """The trained modules by pipeline name (``unet``, and ``text_encoder`` / ``text_encoder_2`` when
        they are trained)."""
        pairs = (("unet", self.unet), ("text_encoder", self.text_encoder), ("text_encoder_2", self.text_encoder_2))
        return {k: m for k, m in pairs if m is not None}

    def unwrapped(self) -> dict[str, Any]:
        """:meth:`named`, outside any accelerate/DDP wrapper."""
        return {k: self.accelerator.unwrap_model(m) for k, m in self.named().items()}


def load_data(config: LoraTrainConfig) -> TrainingData:
    """Open and scan the manifest; every manifest problem surfaces here, before any model loads."""
    manifest = open_training_manifest(config.manifest, config.caption_col)
    buckets = make_buckets(config.resolution, config.bucket_step, config.bucket, config.bucket_max_ratio)
    return load_training_data(manifest, config.caption_col, buckets, keep_bytes=not config.cache_latents)


def cache_root(config: LoraTrainConfig) -> Path:
    if config.cache_dir:
        return Path(config.cache_dir)
    from kdata.models import kcli_home

    return kcli_home() / "cache" / "lora"


def build_sources(config: LoraTrainConfig, components: SDComponents, data: TrainingData, accelerator: Any,
                  progress: ProgressCallback | None = None, timer: StepTimer = NO_TIMER,
                  ) -> tuple[LatentSource, TextSource]:
    """Latent and text sources; with caches on, each process fills its share of what is missing."""
    from ktrain.runtime import weight_dtype

    dtype, device = weight_dtype(accelerator), accelerator.device
    root = cache_root(config)
    latent_cache = EncodingCache(root, "latents") if config.cache_latents else None
    text_cache = EncodingCache(root, "text") if config.uses_text_cache else None
    latents = LatentSource(data, components, device, dtype, latent_cache, timer, flips=config.random_flip > 0)
    texts = TextSource(components, device, dtype, text_cache, timer)
    mine = list(range(accelerator.process_index, len(data.examples), accelerator.num_processes))
    if latent_cache is not None:
        latents.fill(mine, progress)
    if text_cache is not None:
        texts.fill([data.examples[i].caption for i in mine] + [""], progress)
    accelerator.wait_for_everyone()
    return latents, texts


def sources_beside_lora(config: LoraTrainConfig, components: SDComponents, data: TrainingData, accelerator: Any,
                        progress: ProgressCallback | None, timer: StepTimer) -> tuple[LatentSource, TextSource]:
    """:func:`build_sources`, then :func:`add_lora`; in one process the two overlap.

    Filling the caches is torch work on the VAE and text encoder (it releases the GIL); adding LoRA is
    Python work on the UNet (peft walks and wraps its modules). Neither touches the other's modules or
    draws from the RNG that seeds the LoRA weights, so a thread runs the first while the second goes on.
    Several processes keep the plain order: the cache fill ends in a collective every process must meet.
    """
    if accelerator.num_processes > 1 or config.train_text_encoder:
        sources = build_sources(config, components, data, accelerator, progress, timer)
        add_lora(components, config)
        return sources
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="lora-cache") as pool:
        pending = pool.submit(build_sources, config, components, data, accelerator, progress, timer)
        add_lora(components, config)
        return pending.result()


def setup(config: LoraTrainConfig, data: TrainingData, progress: ProgressCallback | None = None,
          timer: StepTimer = NO_TIMER, accelerator: Any = None) -> Trainer:
    """Load models, fill caches, add LoRA, build the optimizer and schedule, prepare with accelerate."""
    import torch

    from ktrain.optim import build_optimizer, build_scheduler
    from ktrain.runtime import make_accelerator, weight_dtype

    if accelerator is None:
        accelerator = make_accelerator(config.mixed_precision, config.gradient_accumulation_steps, config.seed)
    if not accelerator.is_main_process:
        progress = None  # one progress bar per run: the main process's (it fills its share of the caches)
    components = load_components(config.base, config.text_encoder, weight_dtype(accelerator), config.variant,
                                 config.base_config)
    check_bucket_sizes(data, components.size_multiple)
    for module in (components.vae, components.unet, *components.text_encoders):
        module.to(accelerator.device)
    latents, texts = sources_beside_lora(config, components, data, accelerator, progress, timer)
    trained = [components.unet] + (components.text_encoders if config.train_text_encoder else [])
    if config.gradient_checkpointing:
        components.unet.enable_gradient_checkpointing()
        for encoder in trained[1:]:
            getattr(encoder, "activation_checkpointing_enable", encoder.gradient_checkpointing_enable)()
    holder = torch.nn.ModuleList(trained)
    params = [p for p in holder.parameters() if p.requires_grad]
    optimizer = build_optimizer(holder, lr=config.learning_rate, weight_decay=config.weight_decay)
    # Indexed by optimizer step on any process count (see ktrain.runtime); the loop steps it once per step.
    scheduler = build_scheduler(optimizer, config.lr_scheduler, config.lr_warmup_steps, config.max_steps)
    *models, optimizer, scheduler = accelerator.prepare(*trained, optimizer, scheduler)
    texts.trainable = config.train_text_encoder
    prediction = config.prediction_type or components.noise_scheduler.config.prediction_type
    plan = BatchPlan(data.examples, config.batch_size, config.seed, accelerator.num_processes,
                     accelerator.process_index)
    encoders = models[1:] + [None, None]  # the trained text encoders in pipeline order, None where frozen
    trainer = Trainer(config, accelerator, components, data, latents, texts, plan, models[0], encoders[0], params,
                      optimizer, scheduler, prediction, timer=timer, text_encoder_2=encoders[1])
    if config.use_ema:
        from diffusers.training_utils import EMAModel

        trainer.ema = EMAModel(params, decay=config.ema_decay)
        accelerator.register_for_checkpointing(trainer.ema)
    return trainer


def check_bucket_sizes(data: TrainingData, multiple: int) -> None:
    bad = sorted({b for b in data.buckets if b[0] % multiple or b[1] % multiple})
    if bad:
        raise ConfigError(f"bucket sizes must be multiples of {multiple} for this model (VAE x UNet downsampling), "
                          f"got {bad[0][0]}x{bad[0][1]}; set bucket_step to a multiple of {multiple}")
