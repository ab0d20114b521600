"""``checkpoint-{step}/`` folders: save, find the latest, resume, keep at most N, never lose the best.

The trainable state (model, optimizer, scheduler, RNG states of every process) is saved with
accelerate's ``save_state``, which is what makes resuming continue the same run. Beside it each
checkpoint holds ``kcli_config.json`` (the resolved config) and ``trainer_state.json`` (step, manifest
fingerprint, best metric so far). A checkpoint is written under a temporary name and renamed when
complete, so ``--resume latest`` never picks a half-written one.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.atomic import write_json_atomic
from kdata.errors import ConfigError
from kdata.outputs import check_out_vs_inputs, check_overwritable, claim_output, local_paths, remove_own_output

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"
CONFIG_FILE = "kcli_config.json"


@dataclass
class TrainerState:
    step: int = 0
    epoch: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def improve(self, value: float, step: int, greater_is_better: bool) -> bool:
        """Record ``value`` if it beats the best so far; True when it did."""
        if self.best_metric is None:
            better = True
        else:
            better = value > self.best_metric if greater_is_better else value < self.best_metric
        if better:
            self.best_metric, self.best_step = float(value), step
        return better


def prepare_run_folder(out: Path, kind: str, overwrite: bool, accelerator: Any,
                       inputs: Iterable[str | Path | None]) -> None:
    """Claim ``out`` for a training run (the rules of :mod:`kdata.outputs`): it is none of the ``inputs`` that
    exist on disk (manifest, corpus, local model folders), nor inside or around one; ``overwrite`` empties it
    only when kcli marked it as its output; a new or empty folder is marked. Every process checks (so all
    fail alike); only the main process deletes and marks."""
    check_out_vs_inputs(out, local_paths(inputs))
    if overwrite:
        check_overwritable(out)
    if accelerator.is_main_process:
        if overwrite:
            remove_own_output(out)
        claim_output(out, kind)
    accelerator.wait_for_everyone()  # nobody looks for checkpoints in a folder being emptied


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    if not output_dir.exists():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))]
    return sorted(found)


def find_resume_checkpoint(output_dir: Path, resume: str | None) -> Path | None:
    """``latest`` → newest complete checkpoint (None when there is none yet); a path → that checkpoint."""
    if not resume:
        return None
    if resume == "latest":
        found = list_checkpoints(output_dir)
        return found[-1][1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).exists():
        raise ConfigError(f"--resume {resume}: not a checkpoint folder (no {STATE_FILE})")
    return path


def read_state(checkpoint: Path) -> TrainerState:
    data = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
    return TrainerState(**data)


class CheckpointManager:
    """Saves and prunes checkpoints for one training run; only the main process touches files."""

    def __init__(self, output_dir: Path, accelerator: Any, limit: int | None = None) -> None:
        self.output_dir = Path(output_dir)
        self.accelerator = accelerator
        self.limit = limit

    def save(self, state: TrainerState, config: dict[str, Any]) -> Path:
        final = self.output_dir / f"checkpoint-{state.step}"
        tmp = self.output_dir / f".checkpoint-{state.step}.partial"
        if self.accelerator.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(tmp))
        # Every process writes into tmp (its own random_states_{i}.pkl); rename only once all have finished.
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            write_json_atomic(tmp / STATE_FILE, state.__dict__)
            write_json_atomic(tmp / CONFIG_FILE, config)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            self._prune(keep=state.best_step)
        self.accelerator.wait_for_everyone()
        return final

    def load(self, checkpoint: Path) -> TrainerState:
        """Load on every process. A checkpoint made on another process count loads too: the weights,
        optimizer and schedule are the same on every process, and a process without its own
        ``random_states_{i}.pkl`` keeps its seeded RNG (accelerate skips the missing file)."""
        try:
            self.accelerator.load_state(str(checkpoint))
        except (FileNotFoundError, KeyError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"{checkpoint} cannot be resumed by this run ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'incomplete checkpoint'}); "
                              "train into a new --out or pass --overwrite") from exc
        return read_state(checkpoint)

    def _prune(self, keep: int | None) -> None:
        """Delete the oldest checkpoints beyond ``limit``; neither the best one nor the newest (the one
        ``--resume latest`` continues from) is ever deleted, so with an older best there may be limit + 1."""
        if not self.limit:
            return
        found = list_checkpoints(self.output_dir)
        removable = [(s, p) for s, p in found[:-1] if s != keep]
        excess = len(found) - self.limit
        for _, path in removable[: max(excess, 0)]:
            shutil.rmtree(path)
