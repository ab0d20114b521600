"""Everything a LoRA training run needs before its first step, gathered into one :class:`Trainer`.

Order matters for the user: the manifest is read and checked first (:func:`load_data`, no model loaded
yet), then the frozen base is loaded, the caches start filling (the encoders run once per entry; in one
process on a thread beside everything after, :class:`CacheFill`), and the LoRA is added and the optimizer
built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from kdata.progress import ProgressCallback
from ktrain.lora.batches import BatchPlan
from ktrain.lora.cache import CacheFillError, EncodingCache, LatentSource, TextSource
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
    cache_fill: CacheFill | None = None  # the caches still filling beside the steps (one process)

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
                  timer: StepTimer = NO_TIMER) -> tuple[LatentSource, TextSource]:
    """Latent and text sources over the run's caches (when on), not filled yet."""
    from ktrain.runtime import weight_dtype

    dtype, device = weight_dtype(accelerator), accelerator.device
    root = cache_root(config)
    latent_cache = EncodingCache(root, "latents") if config.cache_latents else None
    text_cache = EncodingCache(root, "text") if config.uses_text_cache else None
    latents = LatentSource(data, components, device, dtype, latent_cache, timer, flips=config.random_flip > 0)
    return latents, TextSource(components, device, dtype, text_cache, timer)


class CacheFill:
    """The caches filling on a worker thread while the run loads, adds LoRA and trains.

    What is missing is worked out and promised first (:class:`~ktrain.lora.cache.PendingKeys`), so a step
    that reads an entry still on its way waits for it; a failed fill makes that read raise. The thread
    does torch work on the VAE and text encoder, which the training never touches and which draws nothing
    from the RNG; on CPU it runs beside the UNet's steps on another core. At SD 1.5 size the VAE encode of
    4 images at 256 px took 15 s, which a run used to wait for before its first step."""

    def __init__(self, latents: LatentSource, texts: TextSource, indices: list[int], captions: list[str],
                 first: list[list[int]], progress: ProgressCallback | None) -> None:
        import threading

        self.caches = [c for c in (texts.cache, latents.cache) if c is not None]
        missing_text = texts.missing(captions) if texts.cache is not None else []
        missing_latents = latents.missing(indices) if latents.cache is not None else []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

        def work() -> None:
            try:
                if texts.cache is not None:  # small, and every step reads it
                    texts.encode_missing(missing_text, progress)
                if latents.cache is not None:
                    latents.encode_missing(missing_latents, progress, first=first, stop=self.stopping)
            except BaseException as exc:  # every waiting reader gets it, and so does finish()
                self.error = exc
                for cache in self.caches:
                    cache.pending.fail(exc)

        self.thread = threading.Thread(target=work, name="lora-cache-fill", daemon=True)
        self.thread.start()

    def join(self) -> None:
        """Wait for the whole fill; raise what it raised."""
        self.thread.join()
        if self.error is not None:
            raise CacheFillError(f"filling the caches failed: {self.error!r}") from self.error

    def finish(self) -> None:
        """The run needs no more entries: stop after the batch being encoded, then :meth:`join`."""
        self.stopping.set()
        self.join()


def fill_sources(latents: LatentSource, texts: TextSource, indices: list[int], captions: list[str],
                 progress: ProgressCallback | None) -> None:
    if latents.cache is not None:
        latents.fill(indices, progress)
    if texts.cache is not None:
        texts.fill(captions, progress)


def prepare_sources(config: LoraTrainConfig, components: SDComponents, data: TrainingData, accelerator: Any,
                    plan: BatchPlan, progress: ProgressCallback | None, timer: StepTimer, background: bool,
                    ) -> tuple[LatentSource, TextSource, CacheFill | None]:
    """The sources, each process's share of the missing entries filled, and LoRA added to the models.

    In one process (with ``background``) the fill runs on a thread from here on (:class:`CacheFill`), the
    first two micro-batches' images first. Several processes fill first and then add LoRA: the fill ends in
    a collective every process must meet."""
    latents, texts = build_sources(config, components, data, accelerator, timer)
    mine = list(range(accelerator.process_index, len(data.examples), accelerator.num_processes))
    captions = [data.examples[i].caption for i in mine] + [""]
    if background and accelerator.num_processes == 1:
        first = [plan.micro_batch(0)] + ([plan.micro_batch(1)] if plan.batches_per_epoch > 1 else [])
        fill = CacheFill(latents, texts, mine, captions, first, progress)
        add_lora(components, config)
        return latents, texts, fill
    fill_sources(latents, texts, mine, captions, progress)
    accelerator.wait_for_everyone()
    add_lora(components, config)
    return latents, texts, None


def setup(config: LoraTrainConfig, data: TrainingData, progress: ProgressCallback | None = None,
          timer: StepTimer = NO_TIMER, accelerator: Any = None, fill_in_background: bool = True) -> Trainer:
    """Load models, fill caches, add LoRA, build the optimizer and schedule, prepare with accelerate.

    With ``fill_in_background`` (one process) the caches may still be filling when this returns: the
    trainer's ``cache_fill`` says so, and the loop calls its ``finish()`` after the last step."""
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
    plan = BatchPlan(data.examples, config.batch_size, config.seed, accelerator.num_processes,
                     accelerator.process_index)
    latents, texts, fill = prepare_sources(config, components, data, accelerator, plan, progress, timer,
                                           fill_in_background)
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
    encoders = models[1:] + [None, None]  # the trained text encoders in pipeline order, None where frozen
    trainer = Trainer(config, accelerator, components, data, latents, texts, plan, models[0], encoders[0], params,
                      optimizer, scheduler, prediction, timer=timer, text_encoder_2=encoders[1], cache_fill=fill)
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
