"""One torch thread for tests on tiny models: their ops are microseconds long and gain nothing from intra-op
threads, while on a shared 2-core machine the threads' spin-waits made tiny UNet steps 5 to 20 times slower."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_on_one_thread() -> Iterator[None]:
    """Torch on one intra-op thread inside the block; the count before is restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
