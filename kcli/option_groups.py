"""Groups of options several commands share, declared once as a dataclass and added by a decorator.

``@stage_options`` gives a data-stage command ``--workers``, ``--executor``, ``--ray-address``,
``--batch-size``, ``--overwrite`` and ``--json`` as one :class:`StageFlags` value (which becomes the
library's :class:`kdata.runner.RunOptions`); ``@image_options`` gives an ingest command the settings of the
images it writes as one :class:`ImageFlags`; ``@settings_options`` adds ``--config FILE`` and ``--set
KEY=VALUE`` as one :class:`SettingsFlags`. A group's fields carry their ``Annotated`` option types, so
each flag, its help and its default are written exactly once.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kcli.options import (
    AsJson,
    BaseConfig,
    BatchSize,
    ConfigFile,
    EncodeFormat,
    EncodeQuality,
    Executor,
    ImageSize,
    Overwrite,
    RayAddress,
    RefineNegativePrompt,
    RefinePrompt,
    Refiner,
    RefinerSteps,
    RefinerStrength,
    ResizeMode,
    Sets,
    ShardSize,
    Store,
    Upscaler,
    UpscalerSteps,
    Variant,
    Workers,
)
from kdata.runner.options import RunOptions

Command = Callable[..., None]


@dataclass(frozen=True)
class StageFlags:
    """How a data stage runs, and whether its result is printed as JSON."""

    workers: Workers = 1
    executor: Executor = "local"
    ray_address: RayAddress = None
    batch_size: BatchSize = 256
    overwrite: Overwrite = False
    as_json: AsJson = False

    @contextmanager
    def run_options(self) -> Iterator[RunOptions]:
        """The library's :class:`RunOptions`, with progress bars drawn unless the output is JSON."""
        from kcli.output import progress_bars

        with progress_bars(not self.as_json) as progress:
            yield RunOptions(self.workers, self.executor, self.ray_address, self.batch_size, self.overwrite, progress)

    def run(self, start: Callable[..., Any], *args: Any, show: Callable[[Any], None] | None = None,
            **kwargs: Any) -> None:
        """Call the stage entry point ``start(*args, options, **kwargs)`` with bars, then show its result."""
        from kcli.output import emit, show_run

        with self.run_options() as options:
            result = start(*args, options, **kwargs)
        emit(result, self.as_json, show or show_run)


@dataclass(frozen=True)
class ImageFlags:
    """What the ingest commands write: resize, encoding, where the bytes go, and the shard size."""

    resize_mode: ResizeMode = None
    image_size: ImageSize = None
    encode_format: EncodeFormat = None
    encode_quality: EncodeQuality = None
    store: Store = None
    shard_size: ShardSize = None

    def named(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SettingsFlags:
    """Where a command's config comes from besides its named options: a TOML file and ``--set`` items."""

    config: ConfigFile = None
    sets: Sets = None


@dataclass(frozen=True)
class BaseFlags:
    """Which files of a Stable Diffusion base load: its weight variant, and a single file's component configs."""

    variant: Variant = None
    base_config: BaseConfig = None

    def named(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PostStageFlags:
    """The stages after the base's denoising: an SDXL refiner pass and a x2 latent upscaler.

    The defaults are the seed demo's refine prompt and negative prompt (ktrain.t2i.stages says why and
    which text the refiner reads); literal here so that ``--help`` needs no import of the library.
    """

    refiner: Refiner = None
    refiner_strength: RefinerStrength = 0.3
    refiner_steps: RefinerSteps = None
    refine_prompt: RefinePrompt = "high quality, detailed, sharp focus"
    refine_negative_prompt: RefineNegativePrompt = "low quality, blurry, deformed"
    upscaler: Upscaler = None
    upscaler_steps: UpscalerSteps = 20

    def config(self) -> Any:  # -> ktrain.t2i.stages.StagesConfig
        from ktrain.t2i.stages import StagesConfig

        return StagesConfig(**dataclasses.asdict(self))


def option_group(group: type, argument: str) -> Callable[[Command], Command]:
    """A decorator adding ``group``'s fields as options to a command, whose ``argument`` receives them as one value."""
    hints = typing.get_type_hints(group, include_extras=True)
    fields = dataclasses.fields(group)
    added = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
             for f in fields]

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)
        params = [p for p in own.parameters.values() if p.name != argument] + added

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            value = group(**{f.name: kwargs.pop(f.name) for f in fields})
            command(**kwargs, **{argument: value})

        # typer reads the signature and the type hints: both describe the command as the user sees it.
        wrapper.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


stage_options = option_group(StageFlags, "flags")
image_options = option_group(ImageFlags, "image")
settings_options = option_group(SettingsFlags, "settings")
base_options = option_group(BaseFlags, "base_files")
post_stage_options = option_group(PostStageFlags, "stages")
