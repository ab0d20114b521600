"""Which examples train together, and the random numbers of each step — both pure functions of the seed.

Every batch holds examples of one bucket (one image size). The order of an epoch is derived from
``(seed, epoch)`` and every random draw of a step (timesteps, noise, latent sampling, caption dropout,
LoRA dropout) from ``(seed, step, micro-batch, process)``. So a run resumed from ``checkpoint-N`` draws
exactly what the uninterrupted run drew after step N, with no sampler state to save.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ktrain.lora.data import Example
from ktrain.runtime import DataCursor


class BatchPlan:
    """Micro-batches of example indices, epoch after epoch; process ``p`` of ``P`` takes every P-th one.

    The positions come from a :class:`~ktrain.runtime.DataCursor`, so a run resumed on another process
    count continues the global stream where the checkpoint left it."""

    def __init__(
        self, examples: Sequence[Example], batch_size: int, seed: int, num_processes: int = 1, process_index: int = 0
    ) -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.cursor = DataCursor(num_processes, process_index)
        self._by_bucket: dict[tuple[int, int], list[int]] = {}
        for index, example in enumerate(examples):
            self._by_bucket.setdefault(example.bucket, []).append(index)
        self.batches_per_epoch = sum(-(-len(v) // batch_size) for v in self._by_bucket.values())
        self._cached: tuple[int, list[list[int]]] | None = None

    def epoch(self, epoch: int) -> list[list[int]]:
        """Shuffle within each bucket, cut into batches (the last one of a bucket may be short), shuffle batches."""
        if self._cached and self._cached[0] == epoch:
            return self._cached[1]
        rng = np.random.default_rng([self.seed, epoch])
        batches: list[list[int]] = []
        for bucket in sorted(self._by_bucket):
            members = [self._by_bucket[bucket][i] for i in rng.permutation(len(self._by_bucket[bucket]))]
            batches.extend(members[i : i + self.batch_size] for i in range(0, len(members), self.batch_size))
        batches = [batches[i] for i in rng.permutation(len(batches))]
        self._cached = (epoch, batches)
        return batches

    def micro_batch(self, index: int) -> list[int]:
        """This process's ``index``-th micro-batch (counted over the whole run)."""
        epoch, position = divmod(self.cursor.position(index), self.batches_per_epoch)
        return self.epoch(epoch)[position]

    def epoch_of(self, index: int) -> int:
        return self.cursor.consumed(index) // self.batches_per_epoch


def step_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy's SeedSequence), for per-step generators."""
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def step_generator(seed: int, step: int, micro: int, process_index: int) -> Any:
    """A CPU generator for one micro-batch; torch's global RNG is seeded too (LoRA dropout draws from it)."""
    import torch

    value = step_seed(seed, step, micro, process_index)
    torch.manual_seed(value)
    return torch.Generator("cpu").manual_seed(value)


def draw_flips(count: int, rate: float, generator: Any) -> list[bool] | None:
    """Which of ``count`` images are mirrored this draw (``random_flip``); None when flips are off, so a run
    without them draws nothing and keeps its random stream unchanged."""
    import torch

    if rate <= 0:
        return None
    return (torch.rand(count, generator=generator) < rate).tolist()


def drop_captions(captions: Sequence[str], rate: float, generator: Any) -> list[str]:
    """Replace a ``rate`` share of captions by "" so the model also learns the unconditional prediction."""
    import torch

    if rate <= 0:
        return list(captions)
    drop = torch.rand(len(captions), generator=generator) < rate
    return ["" if d else c for c, d in zip(captions, drop.tolist())]
