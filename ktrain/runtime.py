"""The training runtime: one ``Accelerator`` configured the same way for every trainer.

CPU runs in fp32 (bf16 matmuls on CPUs without bf16 units run hundreds of times slower than fp32,
measured on this project's reference machine); a GPU gets mixed precision with the trainable weights
kept in fp32, as diffusers' training examples do.

Several processes (``accelerate launch --multi_gpu --num_processes N``): each process trains on its own
micro-batches and gradients are averaged, so one optimizer step sees ``batch_size x N x
gradient_accumulation_steps`` examples (the effective batch). The learning-rate schedule is indexed by
the optimizer step (``step_scheduler_with_optimizer=False``: the trainers step it once per optimizer step,
not once per process), so the same config gives the same schedule on any number of processes and a
checkpoint resumes on another process count at the same point of it. On a machine without CUDA a
multi-process launch runs on CPU with the gloo backend (accelerate only forms a CPU process group when it
is told ``cpu=True``; without it each process would train alone and all of them would write the outputs).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from kdata.errors import ConfigError

Precision = Literal["auto", "no", "fp16", "bf16"]
PRECISIONS = get_args(Precision)
# Where launchers put the global rank and world size: torchrun / accelerate launch, then MPI flavours
# (the same list accelerate's own CPU set-up reads).
RANK_VARS = ("RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMI_RANK")
WORLD_SIZE_VARS = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMI_SIZE")


def _first_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)  # type: ignore[arg-type]
    return default


def launched_world_size() -> int:
    """How many processes the launcher started (1 for a plain ``kcli`` run); reads only the environment."""
    return _first_int(WORLD_SIZE_VARS, 1)


def is_main_process() -> bool:
    """True in the process that prints reports and draws progress bars (global rank 0, or no launcher).

    Reads only the environment, so the CLI can ask before torch is imported."""
    return _first_int(RANK_VARS, 0) == 0


def resolve_precision(requested: str, cuda_available: bool, bf16_supported: bool) -> str:
    """``auto`` picks bf16 on GPUs that support it, fp16 on older GPUs, and fp32 (``no``) on CPU."""
    if requested not in PRECISIONS:
        raise ConfigError(f"mixed_precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if not cuda_available:
        return "no"
    if requested == "auto":
        return "bf16" if bf16_supported else "fp16"
    return requested


def make_accelerator(mixed_precision: str = "auto", gradient_accumulation_steps: int = 1, seed: int = 0,
                     report_to: Sequence[str] = (), logging_dir: str | Path | None = None) -> Any:
    """The run's ``Accelerator``; ``report_to`` names experiment trackers (tensorboard, wandb) logging under
    ``logging_dir``, checked here so a missing tracker package fails before any model loads."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from ktrain.trackers import check_trackers

    check_trackers(report_to)
    cuda = torch.cuda.is_available()
    precision = resolve_precision(mixed_precision, cuda, cuda and torch.cuda.is_bf16_supported())
    accelerator = Accelerator(mixed_precision=precision, gradient_accumulation_steps=gradient_accumulation_steps,
                              cpu=not cuda and launched_world_size() > 1, step_scheduler_with_optimizer=False,
                              log_with=list(report_to) or None,
                              project_dir=str(logging_dir) if logging_dir is not None else None)
    set_seed(seed)
    if not accelerator.is_main_process:
        quiet_libraries()
    return accelerator


# glibc's mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD_MAX = 32 << 20  # the largest glibc accepts on 64-bit


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed activation buffers for the next step instead of returning them to the OS.

    By default an allocation over 128 KiB-32 MiB is its own mmap, unmapped when freed, so every training
    step on CPU faults in and zeroes its activations afresh: 2.2 million page faults and about 10% of the
    wall time of an SD 1.5-size UNet step at batch 1 (4.6 s of system time in three steps). Raising the
    mmap and trim thresholds keeps them in the heap. Returns whether it applied: not on other C libraries,
    and not where the user tuned malloc through its ``MALLOC_*`` environment variables.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux") or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt, nothing to tune
        return False
    return all(mallopt(option, value) == 1 for option, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 64 << 20)))


def quiet_libraries() -> None:
    """Other processes keep the libraries' loading bars and warnings to themselves (the main one shows them)."""
    import diffusers
    import transformers

    for library in (transformers, diffusers):
        library.utils.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()


def weight_dtype(accelerator: Any) -> Any:
    """The dtype for frozen weights (VAE, teacher, UNet without LoRA): half precision only on GPU."""
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)


def step_scheduler(optimizer: Any, scheduler: Any) -> None:
    """Advance the schedule by one optimizer step, unless the step was skipped (fp16 overflow)."""
    if not getattr(optimizer, "step_was_skipped", False):
        scheduler.step()


@dataclass
class DataCursor:
    """Where this process's micro-batches lie in the run's one global stream of micro-batches.

    Process ``p`` of ``P`` takes global micro-batches ``base_global + (m - base_micro) * P + p`` for its
    run-level micro-batch counter ``m`` (``step * gradient_accumulation_steps + micro``). A fresh run starts
    at zero; a resumed one continues after the ``base_global`` micro-batches the checkpoint says were
    consumed, whatever process count consumed them, so no data is repeated or skipped when ``P`` changes.
    """

    num_processes: int = 1
    process_index: int = 0
    base_micro: int = 0
    base_global: int = 0

    def position(self, micro: int) -> int:
        """The global index of this process's micro-batch ``micro``."""
        return self.base_global + (micro - self.base_micro) * self.num_processes + self.process_index

    def consumed(self, micro: int) -> int:
        """Global micro-batches consumed once every process has done its first ``micro`` micro-batches."""
        return self.base_global + (micro - self.base_micro) * self.num_processes

    def resume(self, micro: int, consumed: int) -> None:
        self.base_micro, self.base_global = micro, consumed


def restore_cursor(cursor: DataCursor, accelerator: Any, extra: dict[str, Any], step: int, accumulation: int) -> None:
    """Continue the data stream of a checkpoint at optimizer step ``step`` on this launch's process count.

    A checkpoint from before these fields existed was made on this process count (the only case that worked).
    accelerate's micro-step counter is set too: its per-process RNG file, which carries it, is missing on a
    process that did not exist when the checkpoint was written (all random draws of kcli's trainers come
    from per-step generators, so the missing RNG state itself changes nothing)."""
    saved_processes = int(extra.get("num_processes", cursor.num_processes))
    consumed = int(extra.get("micro_batches_seen", step * accumulation * saved_processes))
    cursor.resume(step * accumulation, consumed)
    accelerator.step = step * accumulation


def throughput(seconds: float, steps: int, samples: int) -> dict[str, float]:
    """Wall-clock speed of the steps one call ran (validation and checkpoints on the way included)."""
    rate = (lambda n: round(n / seconds, 3)) if seconds > 0 else (lambda n: 0.0)
    return {"train_seconds": round(seconds, 3), "steps_per_second": rate(steps), "samples_per_second": rate(samples)}


def distributed_record(accelerator: Any, batch_size: int, accumulation: int) -> dict[str, int]:
    """What a checkpoint, the metrics and the result say about the process layout of a run."""
    n = accelerator.num_processes
    return {"num_processes": n, "per_process_batch": batch_size, "gradient_accumulation_steps": accumulation,
            "effective_batch": batch_size * n * accumulation}
