"""``kcli train lora``: the training loop, top-down.

1. Read the manifest and check it (fails here, before any model is loaded, when it cannot be used).
2. Load the frozen base (and the replacement text encoder), fill the latent and text caches.
3. Add LoRA, build AdamW and the schedule, resume from ``checkpoint-N`` when asked.
4. Each step: ``gradient_accumulation_steps`` micro-batches of one bucket each; noise, timesteps and
   caption dropout drawn from the step's own seed; min-SNR weighted MSE; clip, step, EMA.
5. Every ``validation_steps`` and at the end, when asked: the validation loss (``validation_images``) and a
   sample grid of the validation prompts (``validation_prompts``); both are off by default. Every
   ``checkpointing_steps``: ``checkpoint-{step}/`` (LoRA weights, optimizer, schedule, RNG, resolved
   config, manifest fingerprint), keeping at most ``checkpoints_total_limit``.
6. Export both LoRA formats and the model card into ``--out``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.atomic import write_json_atomic
from kdata.errors import ConfigError
from kdata.progress import ProgressCallback, ProgressEvent, notify
from ktrain.checkpoints import (
    CheckpointManager,
    TrainerState,
    find_resume_checkpoint,
    list_checkpoints,
    prepare_run_folder,
)
from ktrain.lora.batches import draw_flips, drop_captions, step_generator
from ktrain.lora.config import LoraTrainConfig
from ktrain.lora.data import mirrored
from ktrain.lora.export import ExportInfo, export_lora
from ktrain.lora.losses import diffusion_loss, sample_noise, sample_timesteps, training_target
from ktrain.lora.sdxl import unet_conditioning
from ktrain.lora.setup import Trainer, load_data, setup
from ktrain.lora.state import check_resumable, register_lora_state_hooks
from ktrain.lora.validation import render_samples, validation_indices, validation_loss
from ktrain.metrics import MetricsLog
from ktrain.runtime import distributed_record, restore_cursor, step_scheduler, throughput
from ktrain.trackers import LOG_DIR, finish_trackers, start_trackers

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "kcli_config.json"


@dataclass
class LoraTrainResult:
    out: Path
    steps: int
    resumed_from: int | None
    losses: list[float]  # the training loss of each step this call ran
    files: dict[str, str]
    data: dict[str, Any]
    cache: dict[str, int]
    metrics: dict[str, float] = field(default_factory=dict)
    # num_processes, per_process_batch, gradient_accumulation_steps, effective_batch, samples_seen, and the
    # speed of this call's steps (train_seconds, steps_per_second, samples_per_second)
    distributed: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "steps": self.steps, "resumed_from": self.resumed_from, "losses": self.losses,
                "files": self.files, "data": self.data, "cache": self.cache, "metrics": self.metrics,
                "distributed": self.distributed}


def micro_batch_loss(tr: Trainer, indices: list[int], generator: Any) -> Any:
    """One micro-batch: latents and text states, noise at random timesteps, the weighted loss, backward."""
    cfg, scheduler = tr.config, tr.components.noise_scheduler
    captions = drop_captions([tr.data.examples[i].caption for i in indices], cfg.caption_dropout, generator)
    flips = draw_flips(len(indices), cfg.random_flip, generator)
    latents = tr.latents.sample(indices, generator, flips)
    states, pooled = tr.texts.encode_pair(captions)
    examples = [mirrored(e) if flip else e for e, flip in zip([tr.data.examples[i] for i in indices],
                                                                flips or [False] * len(indices))]
    extra = unet_conditioning(examples, pooled, latents.dtype)  # SDXL's size/crop ids
    with tr.timer.section("unet_fwd_bwd"):
        noise = sample_noise(latents, generator, cfg.noise_offset)
        timesteps = sample_timesteps(len(indices), scheduler.config.num_train_timesteps, generator, latents.device)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        pred = tr.unet(noisy, timesteps, states, **extra).sample
        target = training_target(scheduler, latents, noise, timesteps, tr.prediction_type)
        loss = diffusion_loss(pred, target, timesteps, scheduler, cfg.min_snr_gamma, tr.prediction_type)
        tr.accelerator.backward(loss)
    return loss.detach()


def train_step(tr: Trainer, step: int) -> tuple[float, int]:
    """Optimizer step ``step`` (0-based): accumulate the micro-batches, clip, update, move the EMA.

    Returns the loss averaged over every process and the number of images the step saw on all of them."""
    import torch

    accum = tr.config.gradient_accumulation_steps
    losses, images = [], 0
    for micro in range(accum):
        indices = tr.plan.micro_batch(step * accum + micro)
        images += len(indices)
        generator = step_generator(tr.config.seed, step, micro, tr.accelerator.process_index)
        with tr.accelerator.accumulate(*tr.modules):
            losses.append(micro_batch_loss(tr, indices, generator))
            with tr.timer.section("optimizer"):
                if tr.accelerator.sync_gradients and tr.config.max_grad_norm > 0:
                    tr.accelerator.clip_grad_norm_(tr.params, tr.config.max_grad_norm)
                tr.optimizer.step()
                tr.optimizer.zero_grad(set_to_none=True)
    step_scheduler(tr.optimizer, tr.scheduler)
    if tr.ema is not None:
        tr.ema.step(tr.params)
    loss = (sum(losses) / len(losses)).reshape(1).float()
    gathered = tr.accelerator.gather(torch.cat([loss, torch.tensor([float(images)], device=loss.device)])[None])
    return float(gathered[:, 0].mean().item()), int(gathered[:, 1].sum().item())


def train_lora(config: LoraTrainConfig, resume: str | None = None, overwrite: bool = False,
               progress: ProgressCallback | None = None) -> LoraTrainResult:
    """Train, or with ``resume`` continue, a LoRA as ``config`` says (see the module docstring)."""
    from ktrain.runtime import keep_freed_memory, make_accelerator

    keep_freed_memory()
    out = Path(config.out)
    data = load_data(config)
    accelerator = make_accelerator(config.mixed_precision, config.gradient_accumulation_steps, config.seed,
                                   config.report_to, out / LOG_DIR)
    prepare_run_folder(out, "lora", overwrite, accelerator,
                       [data.manifest.path, *data.manifest.blob_dirs, config.base, config.text_encoder])
    checkpoint = find_resume_checkpoint(out, resume)
    if checkpoint is None and list_checkpoints(out):
        raise ConfigError(f"{out} already holds checkpoints; pass --resume latest to continue that run, or "
                          "--overwrite to start over")
    if checkpoint is not None:
        check_resumable(checkpoint, config, data.manifest.fingerprint)
    tr = setup(config, data, progress, accelerator=accelerator)
    return run(tr, out, checkpoint, progress if accelerator.is_main_process else None)


def run(tr: Trainer, out: Path, checkpoint: Path | None, progress: ProgressCallback | None) -> LoraTrainResult:
    cfg, acc = tr.config, tr.accelerator
    manager = CheckpointManager(out, acc, limit=cfg.checkpoints_total_limit)
    register_lora_state_hooks(acc, tr.named())
    start_trackers(acc, cfg.report_to, "kcli-lora", cfg.to_dict())
    metrics = MetricsLog(out / METRICS_FILE, enabled=acc.is_main_process, accelerator=acc)
    state = TrainerState(extra={"manifest_fingerprint": tr.data.manifest.fingerprint, "started": now()})
    if checkpoint is not None:
        state = manager.load(checkpoint)
        restore_cursor(tr.plan.cursor, acc, state.extra, state.step, cfg.gradient_accumulation_steps)
    layout = distributed_record(acc, cfg.batch_size, cfg.gradient_accumulation_steps)
    state.extra.update(layout)
    metrics.truncate_after(state.step if checkpoint is not None else -1)  # a fresh start keeps no old lines
    if state.step == 0:
        validate(tr, out, 0, metrics, samples=False)  # the baseline the validation loss falls from
    losses: list[float] = []
    for module in tr.modules:
        module.train()
    started, first_step, first_seen = time.perf_counter(), state.step, int(state.extra.get("samples_seen", 0))
    try:
        train_steps(tr, out, state, metrics, manager, layout, losses, progress)
    finally:  # the steps are over (or failed): the caches need no more entries for this run
        if tr.cache_fill is not None:
            tr.cache_fill.stopping.set()
    if tr.cache_fill is not None:
        tr.cache_fill.finish()  # raises what the fill raised, even for entries no step read
    speed = throughput(time.perf_counter() - started, state.step - first_step,
                       int(state.extra.get("samples_seen", 0)) - first_seen)
    files = export(tr, out, state, metrics) if acc.is_main_process else {}
    finish_trackers(acc)
    acc.wait_for_everyone()
    resumed_from = int(checkpoint.name.split("-")[-1]) if checkpoint is not None else None
    return LoraTrainResult(out, state.step, resumed_from, losses, files,
                           {**tr.data.stats, "buckets": tr.data.bucket_counts()}, cache_stats(tr),
                           final_metrics(metrics), {**layout, "samples_seen": state.extra.get("samples_seen", 0),
                                                    **speed})


def train_steps(tr: Trainer, out: Path, state: TrainerState, metrics: MetricsLog, manager: CheckpointManager,
                layout: dict[str, Any], losses: list[float], progress: ProgressCallback | None) -> None:
    """Steps up to ``max_steps``, with validation, checkpoints and progress at their intervals."""
    cfg = tr.config
    while state.step < cfg.max_steps:
        loss, images = train_step(tr, state.step)
        state.step += 1
        state.epoch = tr.plan.epoch_of(state.step * cfg.gradient_accumulation_steps - 1)
        seen = count_seen(tr, state, images)
        losses.append(loss)
        lr = tr.scheduler.get_last_lr()[0]
        metrics.log(state.step, loss=loss, lr=lr, epoch=state.epoch, samples_seen=seen,
                    num_processes=layout["num_processes"])
        last = state.step == cfg.max_steps
        if last or (cfg.validation_steps and state.step % cfg.validation_steps == 0):
            validate(tr, out, state.step, metrics, samples=True)
        if last or state.step % cfg.checkpointing_steps == 0:
            manager.save(state, checkpoint_record(tr))
        if last or state.step % cfg.progress_every == 0:
            event = ProgressEvent("train", state.step, cfg.max_steps, "steps", loss=loss, detail=f"lr {lr:.2e}")
            notify(progress, event)


def count_seen(tr: Trainer, state: TrainerState, images: int) -> int:
    """Advance the run's data counters (saved in every checkpoint): global micro-batches and images seen."""
    state.extra["micro_batches_seen"] = tr.plan.cursor.consumed(state.step * tr.config.gradient_accumulation_steps)
    state.extra["samples_seen"] = int(state.extra.get("samples_seen", 0)) + images
    return state.extra["samples_seen"]


def validate(tr: Trainer, out: Path, step: int, metrics: MetricsLog, samples: bool) -> None:
    """Validation loss (fixed noise) and, with ``samples``, the grid of validation prompts; main process only."""
    cfg = tr.config
    if tr.accelerator.is_main_process and (cfg.validation_images or (samples and cfg.validation_prompts)):
        modules = tr.unwrapped()
        # autocast: the unwrapped modules miss accelerate's mixed-precision wrapper (a no-op on CPU)
        with ema_weights(tr), eval_mode(list(modules.values())), tr.accelerator.autocast():
            values: dict[str, Any] = {}
            if cfg.validation_images:
                indices = validation_indices(tr.data.examples, cfg.validation_images)
                values["val_loss"] = validation_loss(modules["unet"], tr.latents, tr.texts, tr.data.examples,
                                                     indices, tr.components.noise_scheduler, tr.prediction_type,
                                                     cfg.seed)
            if samples and cfg.validation_prompts:
                encoders = [modules.get("text_encoder", tr.components.text_encoder),
                            modules.get("text_encoder_2", tr.components.text_encoder_2)]
                grid = render_samples(tr.components, modules["unet"], encoders, cfg.validation_prompts,
                                      cfg.validation_seed, cfg.validation_inference_steps, cfg.validation_guidance,
                                      cfg.resolution, out / "samples" / f"step-{step:06d}.png")
                values["samples"] = str(grid.relative_to(out))
        metrics.log(step, **values)
    tr.accelerator.wait_for_everyone()


@contextlib.contextmanager
def ema_weights(tr: Trainer) -> Iterator[None]:
    """Swap the EMA weights in for validation and export, then put the training weights back."""
    if tr.ema is None:
        yield
        return
    tr.ema.store(tr.params)
    tr.ema.copy_to(tr.params)
    try:
        yield
    finally:
        tr.ema.restore(tr.params)


@contextlib.contextmanager
def eval_mode(modules: list[Any]) -> Iterator[None]:
    was_training = [m.training for m in modules]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for module, training in zip(modules, was_training):
            module.train(training)


def checkpoint_record(tr: Trainer) -> dict[str, Any]:
    """The resolved config and provenance saved as ``kcli_config.json`` in every checkpoint and in ``--out``."""
    return {
        "config": tr.config.to_dict(),
        "manifest": {"path": str(tr.data.manifest.path), "fingerprint": tr.data.manifest.fingerprint},
        "base": tr.components.base.to_dict(),
        "text_encoder": tr.components.text_encoder_ref.to_dict(),
    }


def export(tr: Trainer, out: Path, state: TrainerState, metrics: MetricsLog) -> dict[str, str]:
    modules = tr.unwrapped()
    grids = [r["samples"] for r in metrics.read() if "samples" in r]
    info = ExportInfo(
        config=tr.config, base=tr.components.base, text_encoder=tr.components.text_encoder_ref,
        manifest_fingerprint=tr.data.manifest.fingerprint, num_images=len(tr.data.examples), steps=state.step,
        epochs=state.epoch + 1, buckets=tr.data.bucket_counts(), started=str(state.extra.get("started", "")),
        finished=now(), metrics=final_metrics(metrics), sample_grid=grids[-1] if grids else None,
        sdxl=tr.components.is_sdxl,
    )
    with ema_weights(tr):
        files = export_lora(out, modules["unet"], modules.get("text_encoder"), info, modules.get("text_encoder_2"))
    write_json_atomic(out / CONFIG_FILE, checkpoint_record(tr))
    return files


def final_metrics(metrics: MetricsLog) -> dict[str, float]:
    """The first and last validation loss and the mean training loss over the last 10 steps."""
    records = metrics.read()
    val = [r["val_loss"] for r in records if "val_loss" in r]
    train = [r["loss"] for r in records if "loss" in r][-10:]
    result = {"val_loss_first": val[0], "val_loss": val[-1]} if val else {}
    return {**result, **({"train_loss_last10": sum(train) / len(train)} if train else {})}


def cache_stats(tr: Trainer) -> dict[str, int]:
    stats = {}
    for name, cache in (("latents", tr.latents.cache), ("text", tr.texts.cache)):
        if cache is not None:
            stats.update({f"{name}/hit": cache.hits, f"{name}/miss": cache.misses})
    return stats


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
