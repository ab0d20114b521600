"""Stages for the Ray executor's tests, in an importable module so Ray workers can load them by name."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from kdata.errors import ConfigError
from kdata.runner import Stage

INSTALL = "pip install 'kcli-korean[ray]'"  # what kcli tells a user without Ray to run


@dataclass
class ProbeConfig:
    device: str = "auto"


class GpuProbeStage(Stage):
    """Records which GPUs Ray gave the actor that processed each row (none: an empty string)."""

    name = "gpu-probe"
    uses_gpu = True

    def process(self, batch: pa.Table) -> pa.Table:
        import ray

        ids = ",".join(str(i) for i in ray.get_gpu_ids())
        return batch.append_column("gpu_ids", pa.array([ids] * batch.num_rows, pa.string()))


class MissingModelStage(Stage):
    """A stage whose setup fails with a user error, as a stage asked for an unknown model would."""

    name = "missing-model"

    def setup(self) -> None:
        raise ConfigError("unknown model 'no-such-model'; valid names: tiny-clip")

    def process(self, batch: pa.Table) -> pa.Table:
        return batch
