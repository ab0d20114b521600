"""The text-to-image pipelines an evaluation compares, in a registry keyed by name.

- ``ko-encoder``: Korean prompt → Korean text encoder → UNet → VAE (the pipeline kcli exists to build).
- ``translate``: Korean prompt → translation model → English prompt → the unchanged English pipeline
  (what a user does without kcli: the baseline to beat on latency without losing prompt fidelity).
- ``english-reference``: the prompt set's own English text → the English pipeline (an upper bound on
  fidelity: a human translation, and no translation time).
- ``enriched``: Korean prompt → translation, with the nearest English prompt of a prompt index
  (``--prompt-index``) appended → the English pipeline (:mod:`ktrain.t2i.enrich` says why this shape).

Every pipeline reports the same stages — ``translate`` (0 where nothing is translated), ``search`` (the
index lookup, 0 outside ``enriched``), ``text_encode``,
``denoise``, ``upscale`` and ``refine`` (0 without ``--upscaler``/``--refiner``, :mod:`ktrain.t2i.stages`),
``decode`` — so per-stage latencies line up column by column. The refiner reads English only: the
translation or the English text on those pipelines, the refine prompt alone on ``ko-encoder``.
The models are loaded once in a :class:`ModelSet` and shared: both Stable Diffusion pipelines use one UNet
and one VAE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kdata.registry import Registry
from ktrain.t2i.enrich import Neighbour, enriched_prompt, nearest_english
from ktrain.t2i.models import Device, load_base, pick_device, with_text_encoder
from ktrain.t2i.prompts import Prompt
from ktrain.t2i.render import RenderSettings, render, timed
from ktrain.t2i.stages import PostStages, StagesConfig

STAGE_COLUMNS = ("translate", "search", "text_encode", "denoise", "upscale", "decode", "refine")


@dataclass
class ModelSpecs:
    base: str
    text_encoder: str | None = None  # the Korean encoder; None: the base's own (a smoke-test stand-in)
    translator: str | None = None
    variant: str | None = None  # the base's weight variant (fp16) where it has one
    base_config: str | None = None  # a single-file base's component configs (a diffusers folder, Hub id or preset)
    stages: StagesConfig = field(default_factory=StagesConfig)  # refiner and upscaler after the base
    prompt_index: str | None = None  # kcli index build's folder, for enriched


@dataclass
class Generation:
    image: Any  # PIL image
    prompt_used: str  # the text the text encoder read
    seconds: dict[str, float]  # every stage in STAGE_COLUMNS
    neighbour: Neighbour | None = None  # enriched: the corpus prompt appended to the translation


class ModelSet:
    """The models the chosen pipelines need, each loaded on first use and then kept."""

    def __init__(self, specs: ModelSpecs, device: Device | None = None) -> None:
        self.specs = specs
        self.device = device or pick_device()
        self._english: Any = None
        self._korean: Any = None
        self._translator: Any = None
        self._stages: PostStages | None = None
        self._prompt_index: Any = None

    def finisher(self, steps: int) -> PostStages | None:
        """The refiner and upscaler stages (loaded on first use), or None when neither is configured."""
        if not self.specs.stages.active:
            return None
        if self._stages is None:
            self._stages = PostStages(self.specs.stages, steps)
        self._stages.steps = steps
        return self._stages

    @property
    def english(self) -> Any:
        if self._english is None:
            self._english = load_base(self.specs.base, self.device, self.specs.variant, self.specs.base_config)
        return self._english

    @property
    def korean(self) -> Any:
        if self._korean is None:
            self._korean = with_text_encoder(self.english, self.specs.text_encoder, self.device)
        return self._korean

    @property
    def translator(self) -> Any:
        if self._translator is None:
            from kdata.errors import ConfigError
            from ktrain.t2i.translator import KoreanToEnglish

            if not self.specs.translator:
                raise ConfigError("the translate pipeline needs --translator (e.g. facebook/m2m100_418M)")
            self._translator = KoreanToEnglish(self.specs.translator, self.device.name)
        return self._translator


    @property
    def prompt_index(self) -> Any:
        if self._prompt_index is None:
            from kdata.errors import ConfigError
            from kdata.index import PromptIndex

            if not self.specs.prompt_index:
                raise ConfigError("the enriched pipeline needs --prompt-index (kcli index build PROMPTS --out INDEX)")
            self._prompt_index = PromptIndex.open(self.specs.prompt_index)
            self._prompt_index.embedder  # noqa: B018 - load the embedder with the other models, before timing
        return self._prompt_index


@dataclass
class PipelineSpec:
    name: str
    description: str
    run: Callable[[ModelSet, Prompt, int, RenderSettings], Generation]
    needs: tuple[str, ...] = field(default_factory=tuple)  # which ModelSet members it uses
    needs_english: bool = False  # reads each prompt's ``en``: a Korean-only prompt set cannot run it

    def load(self, models: ModelSet) -> None:
        for member in self.needs:
            getattr(models, member)


T2I_PIPELINES: Registry[PipelineSpec] = Registry("t2i pipeline")


def _finish(image: Any, prompt_used: str, seconds: dict[str, float], neighbour: Neighbour | None = None) -> Generation:
    return Generation(image, prompt_used, {stage: seconds.get(stage, 0.0) for stage in STAGE_COLUMNS}, neighbour)


def run_ko_encoder(models: ModelSet, prompt: Prompt, seed: int, settings: RenderSettings) -> Generation:
    image, seconds = render(models.korean, prompt.ko, seed, settings, models.device, models.finisher(settings.steps))
    return _finish(image, prompt.ko, seconds)


def run_translate(models: ModelSet, prompt: Prompt, seed: int, settings: RenderSettings) -> Generation:
    english, translate_seconds = timed(lambda: models.translator.translate([prompt.ko])[0], models.device)
    image, seconds = render(models.english, english, seed, settings, models.device, models.finisher(settings.steps))
    return _finish(image, english, {"translate": translate_seconds, **seconds})


def run_enriched(models: ModelSet, prompt: Prompt, seed: int, settings: RenderSettings) -> Generation:
    english, translate_seconds = timed(lambda: models.translator.translate([prompt.ko])[0], models.device)
    neighbour, search_seconds = timed(lambda: nearest_english(models.prompt_index, prompt.ko), models.device)
    text = enriched_prompt(english, neighbour)
    image, seconds = render(models.english, text, seed, settings, models.device, models.finisher(settings.steps))
    return _finish(image, text, {"translate": translate_seconds, "search": search_seconds, **seconds}, neighbour)


def run_english_reference(models: ModelSet, prompt: Prompt, seed: int, settings: RenderSettings) -> Generation:
    if prompt.en is None:  # the evaluation's plan refuses this pipeline for such a set; a direct caller learns here
        from kdata.errors import ConfigError

        raise ConfigError(f"english-reference needs English text, and prompt {prompt.id!r} has no en")
    image, seconds = render(models.english, prompt.en, seed, settings, models.device,
                            models.finisher(settings.steps))
    return _finish(image, prompt.en, seconds)


for _spec in (
    PipelineSpec("ko-encoder", "Korean prompt → Korean text encoder → UNet", run_ko_encoder, ("korean",)),
    PipelineSpec("translate", "Korean prompt → translation → English pipeline", run_translate,
                 ("translator", "english")),
    PipelineSpec("english-reference", "the prompt set's English → English pipeline", run_english_reference,
                 ("english",), needs_english=True),
    PipelineSpec("enriched", "Korean prompt → translation + nearest English prompt (--prompt-index) → English "
                 "pipeline", run_enriched, ("translator", "prompt_index", "english")),
):
    T2I_PIPELINES.add(_spec.name, _spec)


def parse_pipelines(text: str) -> list[PipelineSpec]:
    """``"ko-encoder,translate"`` → their specs, in the order given; an unknown name lists the valid ones."""
    from kdata.errors import ConfigError

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--pipelines: name at least one of {', '.join(T2I_PIPELINES.names())}")
    if len(set(names)) != len(names):
        raise ConfigError(f"--pipelines {text!r}: a pipeline is named twice")
    return [T2I_PIPELINES.get(name) for name in names]
