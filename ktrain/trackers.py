"""Experiment trackers (TensorBoard, Weights & Biases) through accelerate, beside ``metrics.jsonl``.

Off by default: ``report_to = []``. With ``--report-to tensorboard`` the run writes TensorBoard event files
under ``OUT/logs/``; with ``wandb`` it logs to the W&B project named by ``WANDB_PROJECT`` (else ``kcli``).
The same numbers go to ``metrics.jsonl`` and to every tracker, from the main process only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kdata.deps import require
from kdata.errors import ConfigError

# tracker name -> (module accelerate imports for it, the pip package that provides it)
TRACKERS = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}
LOG_DIR = "logs"


def check_trackers(names: Sequence[str]) -> None:
    """Known names whose packages are installed; a one-line error naming the fix otherwise."""
    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"report_to: unknown tracker {name!r}; choose from {', '.join(TRACKERS)}")
        module, package = TRACKERS[name]
        require(module, package)


def start_trackers(accelerator: Any, names: Sequence[str], project: str, config: Mapping[str, Any]) -> None:
    """Open the trackers with the run's resolved config as hyper-parameters (scalars and strings only:
    TensorBoard's hparams take nothing else, so lists and tables are written as text)."""
    if names:
        accelerator.init_trackers(project, config={k: _hparam(v) for k, v in config.items()})


def finish_trackers(accelerator: Any) -> None:
    """Flush and close the trackers (``Accelerator.end_training`` would also tear down the process group,
    which the caller still uses)."""
    for tracker in accelerator.trackers:
        tracker.finish()


def _hparam(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def numeric(values: Mapping[str, Any]) -> dict[str, float]:
    """The numbers among logged values (trackers plot scalars; paths and sample-grid names stay in the log)."""
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
