"""``kcli train encoder``: the distillation loop, top-down over small helpers.

One optimizer step = ``gradient_accumulation_steps`` micro-batches. Which rows a micro-batch holds and
which noise the UNet sees are functions of (seed, micro-step) alone, so a resumed run draws exactly what
the uninterrupted run would have drawn; model, optimizer, scheduler and RNG states come back from
``checkpoint-{step}/`` (accelerate ``save_state``). Validation runs at every checkpoint, so the best
checkpoint by ``best_metric`` is always one that exists (and is never pruned); its model is also exported
to ``OUT/best/`` (before the checkpoint is written: a run killed in between redoes that step on resume and,
being deterministic, exports the same model again), and the last one to ``OUT/final/``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from kdata.progress import ProgressCallback, ProgressEvent, notify
from ktrain.checkpoints import (
    CONFIG_FILE,
    CheckpointManager,
    TrainerState,
    find_resume_checkpoint,
    list_checkpoints,
    prepare_run_folder,
)
from ktrain.encoder.build import EncoderRun, build_run
from ktrain.encoder.config import EncoderTrainConfig, changed_settings
from ktrain.encoder.encoding import encode, tokenize, unet_inputs
from ktrain.encoder.evaluate import GREATER_IS_BETTER, score
from ktrain.encoder.export import export_encoder
from ktrain.encoder.losses import pooled_mse, soft_alignment_mse, unet_noise_mse, weighted_total
from ktrain.metrics import MetricsLog
from ktrain.runtime import step_scheduler, throughput
from ktrain.trackers import LOG_DIR, finish_trackers, start_trackers

METRICS_FILE = "metrics.jsonl"
logger = logging.getLogger(__name__)


class StaleRunError(ConfigError):
    """The checkpoint to resume was made with other settings or another version of the data."""


@dataclass
class TrainResult:
    out: Path
    steps: int
    resumed_from: int | None
    first_loss: float | None
    last_loss: float | None
    best_step: int | None
    best_metric: float | None
    validation: dict[str, Any] | None
    exports: dict[str, str] = field(default_factory=dict)
    # num_processes, per_process_batch, gradient_accumulation_steps, effective_batch, samples_seen, and the
    # speed of this call's steps (train_seconds, steps_per_second, samples_per_second)
    distributed: dict[str, int] = field(default_factory=dict)
    # lr_scheduler, learning_rate, max_steps, warmup_steps (the effective one) and warmup_steps_set
    schedule: dict[str, Any] = field(default_factory=dict)
    # mode (none, memory, disk), rows, size_mb; on disk also path, shards and shards_reused
    teacher_cache: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def batch_indices(num_rows: int, batch_size: int, micro_step: int, seed: int) -> list[int]:
    """The rows of micro-batch ``micro_step``: epochs are seeded permutations, walked in slices."""
    import torch

    per_epoch = math.ceil(num_rows / batch_size)
    epoch, index = divmod(micro_step, per_epoch)
    order = torch.randperm(num_rows, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return order[index * batch_size : (index + 1) * batch_size].tolist()


def compute_losses(run: EncoderRun, indices: list[int], micro_step: int, device: Any) -> dict[str, Any]:
    """Every switched-on objective for global micro-batch ``micro_step`` (unweighted)."""
    import torch

    config, weights = run.config, run.config.weights
    teacher_states, teacher_pooled = run.train_cache.get(indices)
    ko = tokenize(run.tokenizer, [run.corpus.train.ko[i] for i in indices]).to(device)
    states, pooled = encode(run.student, ko, config.hidden_layer)
    losses: dict[str, Any] = {}
    if weights["pooled"] > 0:
        losses["pooled"] = pooled_mse(pooled, teacher_pooled)
    if weights["english"] > 0:
        en = tokenize(run.tokenizer, [run.corpus.train.en[i] for i in indices]).to(device)
        losses["english"] = pooled_mse(encode(run.student, en, config.hidden_layer)[1], teacher_pooled)
    if weights["sequence"] > 0:
        losses["sequence"] = soft_alignment_mse(states, teacher_states, config.sequence_temperature)
    if weights["unet"] > 0:
        # Noise is a function of (seed, global micro-batch): a resumed run redraws exactly the same, and a
        # micro-batch gets the same noise whichever process (of however many) trains on it.
        generator = torch.Generator().manual_seed((config.seed * 1_000_003 + micro_step) * 1024)
        latents, timesteps = unet_inputs(run.unet, len(indices), generator, config.unet_latent_size)
        dtype = next(run.unet.parameters()).dtype
        latents, timesteps = latents.to(device, dtype), timesteps.to(device)
        with torch.no_grad():
            target = run.unet(latents, timesteps, encoder_hidden_states=teacher_states.to(dtype)).sample
        losses["unet"] = unet_noise_mse(run.unet, latents, timesteps, states, target, run.unet_scale)
    return losses


@dataclass
class StepLosses:
    """A step's losses as device tensors, and the samples it consumed over all processes."""

    tensors: dict[str, Any]
    samples: int

    def read(self, accelerator: Any) -> dict[str, float]:
        """The losses averaged over processes, as numbers: one gather and one device-to-host copy."""
        import torch

        names = list(self.tensors)
        local = torch.stack([self.tensors[n].reshape(()) for n in names])
        gathered = accelerator.gather(local[None]).mean(dim=0).tolist()  # (processes, losses) -> (losses,)
        return dict(zip(names, gathered))


def train_step(run: EncoderRun, accelerator: Any, optimizer: Any, scheduler: Any, step: int) -> StepLosses:
    """One optimizer step over ``gradient_accumulation_steps`` micro-batches of ``batch_size`` pairs on each
    process. The losses stay on the device (see :class:`StepLosses`): reading them is a host sync, which the
    loop does only at logging intervals."""
    config = run.config
    accumulation = config.gradient_accumulation_steps
    sums: dict[str, Any] = {}
    samples = 0
    for micro in range(accumulation):
        position = run.cursor.position(step * accumulation + micro)
        rows = batch_indices(len(run.corpus.train), config.batch_size, position, config.seed)
        samples += len(rows)
        with accelerator.accumulate(run.student):
            with accelerator.autocast():
                losses = compute_losses(run, rows, position, accelerator.device)
                total = weighted_total(losses, config.weights)
            accelerator.backward(total)
            if accelerator.sync_gradients and config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(run.student.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        for name, value in {"loss": total, **losses}.items():
            sums[name] = sums.get(name, 0.0) + value.detach().float() / accumulation
    step_scheduler(optimizer, scheduler)
    # Every process draws the same number of rows per step (batch_indices wraps around the corpus), so the
    # step's sample count is known on the host without asking the other processes.
    return StepLosses(sums, samples * accelerator.num_processes)


def validate(run: EncoderRun, accelerator: Any) -> dict[str, Any] | None:
    if run.validation_states is None:
        return None
    student = accelerator.unwrap_model(run.student)
    return score(student, run.tokenizer, run.corpus.validation.ko, run.validation_states, run.validation_pooled,
                 run.probe, run.validation_null_mse, run.config.hidden_layer, accelerator.device)


def best_metric(run: EncoderRun) -> str:
    """The configured metric; without a UNet to measure denoising with, mean cosine."""
    metric = run.config.best_metric
    return "mean_cosine" if metric.startswith("denoise") and run.probe is None else metric


def export_info(run: EncoderRun, step: int, validation: dict[str, Any] | None) -> dict[str, Any]:
    config = run.config
    return {"teacher": config.teacher, "pairs": config.pairs, "fingerprint": run.corpus.fingerprint, "step": step,
            "hidden_layer": config.hidden_layer, "validation": validation, "config": config.to_dict(),
            "schedule": schedule_record(config)}


def schedule_record(config: EncoderTrainConfig) -> dict[str, Any]:
    """The learning-rate schedule as it runs: the effective warm-up beside the one asked for."""
    return {"lr_scheduler": config.lr_scheduler, "learning_rate": config.learning_rate,
            "max_steps": config.max_steps, "warmup_steps": config.effective_warmup_steps,
            "warmup_steps_set": config.warmup_steps}


def build_schedule(optimizer: Any, config: EncoderTrainConfig) -> Any:
    """The configured schedule with the warm-up capped to the run (see ``EncoderTrainConfig``)."""
    from ktrain.optim import build_scheduler

    warmup = config.effective_warmup_steps
    if warmup < config.warmup_steps:
        logger.info("warm-up %d steps instead of warmup_steps=%d: at most warmup_fraction=%g of the %d-step run",
                    warmup, config.warmup_steps, config.warmup_fraction, config.max_steps)
    return build_scheduler(optimizer, config.lr_scheduler, warmup, config.max_steps)


def prepare_output(config: EncoderTrainConfig, resume: str | None, overwrite: bool, accelerator: Any) -> None:
    """Refuse to mix two runs in one folder: continue it (``--resume latest``) or start over (``--overwrite``)."""
    out = Path(config.out)
    prepare_run_folder(out, "encoder", overwrite, accelerator,
                       [config.pairs, config.teacher, config.tokenizer, config.student_init])
    found = list_checkpoints(out)
    if found and not resume:
        raise ConfigError(f"{out} already holds a training run (checkpoint-{found[-1][0]}); pass --resume latest to "
                          "continue it, --overwrite to start over, or another --out")


def resume_state(manager: CheckpointManager, config: EncoderTrainConfig, resume: str | None,
                 fingerprint: str) -> tuple[TrainerState, int | None]:
    import json

    checkpoint = find_resume_checkpoint(Path(config.out), resume)
    if checkpoint is None:
        return TrainerState(extra={"fingerprint": fingerprint}), None
    saved = json.loads((checkpoint / CONFIG_FILE).read_text(encoding="utf-8"))
    changed = changed_settings(saved, config.to_dict())
    if changed:
        raise StaleRunError(f"{checkpoint} was made with other settings ({', '.join(changed)}); resume with the same "
                          "settings, or train into another --out")
    state = manager.load(checkpoint)
    if state.extra.get("fingerprint") != fingerprint:
        raise StaleRunError(f"{checkpoint} was trained on another version of {config.pairs} (fingerprint differs)")
    return state, state.step


def train_encoder(config: EncoderTrainConfig, resume: str | None = None, overwrite: bool = False,
                  progress: ProgressCallback | None = None) -> TrainResult:
    """Train (or continue training) a Korean student of ``config.teacher``; returns where everything went."""
    from ktrain.optim import build_optimizer
    from ktrain.runtime import distributed_record, make_accelerator, restore_cursor

    accelerator = make_accelerator(config.mixed_precision, config.gradient_accumulation_steps, config.seed,
                                   config.report_to, Path(config.out) / LOG_DIR)
    prepare_output(config, resume, overwrite, accelerator)
    if not accelerator.is_main_process:
        progress = None  # one progress bar per run
    out = Path(config.out)
    run = build_run(config, accelerator, progress)
    optimizer = build_optimizer(run.student, config.learning_rate, config.weight_decay)
    # Indexed by optimizer step on any process count (see ktrain.runtime); train_step steps it once per step.
    scheduler = build_schedule(optimizer, config)
    run.student, optimizer, scheduler = accelerator.prepare(run.student, optimizer, scheduler)
    manager = CheckpointManager(out, accelerator, limit=config.checkpoints_total_limit)
    state, resumed_from = resume_state(manager, config, resume, run.corpus.fingerprint)
    if resumed_from is not None:
        restore_cursor(run.cursor, accelerator, state.extra, state.step, config.gradient_accumulation_steps)
    state.extra.update(distributed_record(accelerator, config.batch_size, config.gradient_accumulation_steps))
    state.extra["schedule"] = schedule_record(config)
    start_trackers(accelerator, config.report_to, "kcli-encoder", config.to_dict())
    metrics = MetricsLog(out / METRICS_FILE, enabled=accelerator.is_main_process, accelerator=accelerator)
    metrics.truncate_after(state.step if resumed_from is not None else -1)
    if resumed_from is None:  # step 0: how this run trains, before its first step
        metrics.log(0, **schedule_record(config), teacher_cache=run.train_cache.mode)
    return _loop(run, accelerator, optimizer, scheduler, manager, state, metrics, resumed_from, progress)


def _loop(run: EncoderRun, accelerator: Any, optimizer: Any, scheduler: Any, manager: CheckpointManager,
          state: TrainerState, metrics: MetricsLog, resumed_from: int | None,
          progress: ProgressCallback | None) -> TrainResult:
    import time

    config, out = run.config, Path(run.config.out)
    validation = None
    started, first_step, first_seen = time.perf_counter(), state.step, int(state.extra.get("samples_seen", 0))
    while state.step < config.max_steps:
        step_losses = train_step(run, accelerator, optimizer, scheduler, state.step)
        state.step += 1
        state.extra["micro_batches_seen"] = run.cursor.consumed(state.step * config.gradient_accumulation_steps)
        state.extra["samples_seen"] = int(state.extra.get("samples_seen", 0)) + step_losses.samples
        if state.step % config.log_every == 0 or state.step == 1 or state.step == config.max_steps:
            losses = step_losses.read(accelerator)  # the only host sync of a step, at logging intervals
            metrics.log(state.step, lr=scheduler.get_last_lr()[0], **losses, samples_seen=state.extra["samples_seen"],
                        num_processes=state.extra["num_processes"])
        validation = None
        if state.step % config.checkpoint_every == 0 or state.step == config.max_steps:
            validation = _checkpoint(run, accelerator, manager, state, metrics)
        detail = f"val R@1 {validation['r_at_1']:.3f}" if validation and "r_at_1" in validation else ""
        notify(progress, ProgressEvent("train", state.step, config.max_steps, "steps", loss=losses["loss"],
                                       detail=detail))  # the loss last logged
    speed = throughput(time.perf_counter() - started, state.step - first_step,
                       int(state.extra.get("samples_seen", 0)) - first_seen)
    if accelerator.is_main_process:
        export_encoder(out / "final", accelerator.unwrap_model(run.student), run.tokenizer,
                       export_info(run, state.step, validation), config.text_encoder_subfolder)
    finish_trackers(accelerator)
    accelerator.wait_for_everyone()
    exports = {name: str(out / name) for name in ("final", "best") if (out / name).exists()}
    logged = [r["loss"] for r in metrics.read() if "loss" in r]  # the whole run's, resumed or not
    layout = {k: state.extra[k] for k in ("num_processes", "per_process_batch", "gradient_accumulation_steps",
                                           "effective_batch", "samples_seen") if k in state.extra}
    return TrainResult(out, state.step, resumed_from, logged[0] if logged else None, logged[-1] if logged else None,
                       state.best_step, state.best_metric, validation or state.extra.get("best_validation"), exports,
                       {**layout, **speed}, schedule_record(config), run.train_cache.describe())


def _checkpoint(run: EncoderRun, accelerator: Any, manager: CheckpointManager, state: TrainerState,
                metrics: MetricsLog) -> dict[str, Any] | None:
    """Validate, export the model to ``best/`` when it is the best so far, then save ``checkpoint-{step}/``."""
    config = run.config
    validation = validate(run, accelerator)
    if validation is not None:
        metrics.log(state.step, **{f"val/{k}": v for k, v in validation.items()})
        metric = best_metric(run)
        value = validation.get(metric)
        if value is not None and state.improve(value, state.step, GREATER_IS_BETTER[metric]):
            state.extra["best_validation"] = validation
            if accelerator.is_main_process:
                export_encoder(Path(config.out) / "best", accelerator.unwrap_model(run.student), run.tokenizer,
                               export_info(run, state.step, validation), config.text_encoder_subfolder)
    manager.save(state, config.to_dict())
    return validation
