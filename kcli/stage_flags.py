"""The run options of every data-stage command, added in one place.

``@stage_options`` appends ``--workers``, ``--executor``, ``--ray-address``, ``--batch-size``,
``--overwrite`` and ``--json`` to a command and hands it one :class:`StageFlags` value, so the same six
options are declared once instead of in every command, and they reach the library as one
:class:`kdata.runner.RunOptions`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kcli.options import AsJson, BatchSize, Executor, Overwrite, RayAddress, Workers
from kdata.runner.options import RunOptions

# (name, annotation, default) of the options @stage_options adds, in --help order.
FLAGS: tuple[tuple[str, Any, Any], ...] = (
    ("workers", Workers, 1),
    ("executor", Executor, "local"),
    ("ray_address", RayAddress, None),
    ("batch_size", BatchSize, 256),
    ("overwrite", Overwrite, False),
    ("as_json", AsJson, False),
)


@dataclass(frozen=True)
class StageFlags:
    workers: int = 1
    executor: str = "local"
    ray_address: str | None = None
    batch_size: int = 256
    overwrite: bool = False
    as_json: bool = False

    @contextmanager
    def run_options(self) -> Iterator[RunOptions]:
        """The library's :class:`RunOptions`, with progress bars drawn unless the output is JSON."""
        from kcli.output import progress_bars

        with progress_bars(not self.as_json) as progress:
            yield RunOptions(self.workers, self.executor, self.ray_address, self.batch_size, self.overwrite, progress)


def stage_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the run options to ``command``, whose last parameter ``flags: StageFlags`` receives them."""
    own = inspect.signature(command, eval_str=True)
    params = [p for p in own.parameters.values() if p.name != "flags"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
             for name, annotation, default in FLAGS]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        flags = StageFlags(**{name: kwargs.pop(name) for name, _, _ in FLAGS})
        command(**kwargs, flags=flags)

    # typer reads the signature and the type hints: both describe the command as the user sees it.
    wrapper.__signature__ = own.replace(parameters=params + added)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params + added}
    return wrapper
