"""What ``kcli eval t2i`` will use, decided and checked before its first image.

The defaults, in one place (the README's "Korean prompts to images" lists them too):

==================  ==================================  ==========================================
option              default                             used by
==================  ==================================  ==========================================
``--text-encoder``  the base's own                      ``ko-encoder`` (a smoke test: the base's
                                                        English encoder reading Korean)
``--translator``    ``facebook/m2m100_418M``            ``translate``
``--english-clip``  ``openai/clip-vit-large-patch14``   ``clip_en``, against the English prompt
``--korean-clip``   ``Bingsu/clip-vit-large-patch14-ko``  ``clip_ko``, against the Korean prompt
``--prompt-index``  none (required by ``enriched``)     ``enriched`` (and the translator too)
==================  ==================================  ==========================================

Why these: M2M100 418M is the smallest model of the M2M100 family, which translates Korean to English
directly rather than through a pivot language (Fan et al., 2020); CLIP ViT-L/14 is the text tower Stable
Diffusion 1.x reads (Rombach et al., 2022), so ``clip_en`` scores in the space the English pipeline
generated from; the Korean CLIP is a Korean text tower trained to match that CLIP's (its model card), so
both scores share one image tower. The base has no default (``--base`` is required).

:func:`plan_t2i` decides which models each chosen pipeline and score needs; :func:`check_models` then
locates every one (:mod:`ktrain.t2i.locate`: preset, local path, Hugging Face cache, or the Hub unless
``HF_HUB_OFFLINE=1``) and refuses the evaluation in one line naming the option to change. ``--english-clip
none`` or ``--korean-clip none`` leaves that score out.

A Korean-only prompt set (a prompt without ``en``): the English CLIP score is left out with a note, or
refused when ``--english-clip`` was given; ``english-reference`` (which renders the English text) is
refused. ``ko-encoder`` and ``translate`` read only the Korean and run as usual.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from kdata.errors import ConfigError
from ktrain.t2i.locate import (
    CLIP,
    REFINER,
    STABLE_DIFFUSION,
    TEXT_ENCODER,
    TRANSLATOR,
    UPSCALER,
    NotFound,
    locate,
    locate_clip,
)
from ktrain.t2i.pipelines import parse_pipelines
from ktrain.t2i.prompts import Prompt, without_english
from ktrain.t2i.stages import STAGE_FIXES, StagesConfig

DEFAULT_TRANSLATOR = "facebook/m2m100_418M"
DEFAULT_ENGLISH_CLIP = "openai/clip-vit-large-patch14"
DEFAULT_KOREAN_CLIP = "Bingsu/clip-vit-large-patch14-ko"
OFF = "none"  # --english-clip none / --korean-clip none: leave that score out
BASES_OWN = "the base's own"


class EvalSettings(Protocol):  # ktrain.t2i.evaluate.T2IEvalConfig, without importing it
    base: str
    pipelines: list[str]
    text_encoder: str | None
    translator: str | None
    english_clip: str | None
    korean_clip: str | None
    stages: StagesConfig


@dataclass(frozen=True)
class ScoreSpec:
    column: str  # eval.csv's column
    role: str
    option: str
    field: str  # the config field naming its model
    default: str
    text: str  # the row field it scores the image against
    needs_english: bool


SCORES = (ScoreSpec("clip_en", "English CLIP", "--english-clip", "english_clip", DEFAULT_ENGLISH_CLIP, "prompt_en",
                    True),
          ScoreSpec("clip_ko", "Korean CLIP", "--korean-clip", "korean_clip", DEFAULT_KOREAN_CLIP, "prompt_ko", False))
FIXES = {
    "--base": "give --base a diffusers folder, a Hub id that is cached or reachable, or tiny-sd",
    "--text-encoder": "give --text-encoder an encoder folder (what kcli train encoder exports), or leave it out to "
                      "use the base's own",
    "--translator": "give --translator a local folder, a Hub id that is cached or reachable, or "
                    "tiny-translator-ko-en; or leave translate out of --pipelines",
    "--english-clip": "give --english-clip a local folder, a Hub id that is cached or reachable, an open_clip spec "
                      "or tiny-clip; or --english-clip none to skip the English score",
    "--korean-clip": "give --korean-clip a local folder, a Hub id that is cached or reachable, an open_clip spec or "
                     "tiny-clip; or --korean-clip none to skip the Korean score",
    "--refiner": STAGE_FIXES["refiner"],
    "--upscaler": STAGE_FIXES["upscaler"],
    "--prompt-index": "give --prompt-index a folder that kcli index build finished (kcli index build PROMPTS.jsonl "
                      "--out INDEX), or leave enriched out of --pipelines",
}


@dataclass(frozen=True)
class ModelUse:
    role: str  # "English CLIP"
    option: str  # "--english-clip"
    spec: str | None  # None: the base's own text encoder
    default: bool  # the option was not given
    used_by: tuple[str, ...]  # pipelines and score columns
    found: str = ""  # where it loads from (ktrain.t2i.locate), once checked

    def shown(self) -> str:
        return f"{self.spec or BASES_OWN}{' (default)' if self.default else ''}"


@dataclass
class T2IPlan:
    pipelines: list[str]
    scores: list[str]  # the score columns computed; the others stay empty
    models: list[ModelUse]
    notes: list[str]
    translator: str  # recorded as a generation setting even when translate is not run (a later run may add it)
    english_clip: str | None  # None: not scored
    korean_clip: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"pipelines": self.pipelines, "scores": self.scores, "models": [asdict(m) for m in self.models],
                "notes": self.notes}


def plan_t2i(config: EvalSettings, prompts: list[Prompt]) -> T2IPlan:
    """Which model each pipeline and score uses (given or default), and what a Korean-only set leaves out."""
    pipelines = parse_pipelines(",".join(config.pipelines))
    names = [p.name for p in pipelines]
    lacking = without_english(prompts)
    where = f"{len(lacking)} of {len(prompts)} prompts have no en (first: {lacking[0].id!r})" if lacking else ""
    for pipeline in pipelines:
        if pipeline.needs_english and lacking:
            raise ConfigError(f"--pipelines {pipeline.name}: it renders each prompt's English text, but {where}; "
                              f"leave {pipeline.name} out of --pipelines, or give every prompt an en")
    models = [ModelUse("base", "--base", config.base, False, tuple(names))]
    notes: list[str] = []
    if "ko-encoder" in names:
        models.append(ModelUse("text encoder", "--text-encoder", config.text_encoder, config.text_encoder is None,
                               ("ko-encoder",)))
        if config.text_encoder is None:
            notes.append("ko-encoder reads Korean with the base's own text encoder (no --text-encoder given): a "
                         "smoke test, not the Korean encoder")
    stages = getattr(config, "stages", None) or StagesConfig()
    for role, option, spec in (("SDXL refiner", "--refiner", stages.refiner),
                               ("latent upscaler", "--upscaler", stages.upscaler)):
        if spec:
            models.append(ModelUse(role, option, spec, False, tuple(names)))
    translator = config.translator or DEFAULT_TRANSLATOR
    translating = tuple(name for name in ("translate", "enriched") if name in names)
    if translating:
        models.append(ModelUse("translator", "--translator", translator, config.translator is None, translating))
    if "enriched" in names:
        models.append(_index_use(getattr(config, "prompt_index", None)))
    chosen: dict[str, str | None] = {}
    for score in SCORES:
        given = getattr(config, score.field)
        chosen[score.column] = None
        if given == OFF:
            notes.append(f"{score.column} is not scored ({score.option} none)")
        elif score.needs_english and lacking:
            if given is not None:
                raise ConfigError(f"{score.option} {given}: it scores images against each prompt's English text, "
                                  f"but {where}; leave {score.option} out (the score is then skipped), or give "
                                  "every prompt an en")
            notes.append(f"{score.column} is not scored: {where}, and the {score.role} reads English")
        else:
            chosen[score.column] = given or score.default
            models.append(ModelUse(score.role, score.option, chosen[score.column], given is None, (score.column,)))
    return T2IPlan(names, [c for c, spec in chosen.items() if spec], models, notes, translator, chosen["clip_en"],
                   chosen["clip_ko"])


def _index_use(prompt_index: str | None) -> ModelUse:
    if not prompt_index:
        raise ConfigError("--pipelines enriched: it appends each prompt's nearest English prompt from a prompt "
                          "index, and no --prompt-index was given; " + FIXES["--prompt-index"])
    return ModelUse("prompt index", "--prompt-index", prompt_index, False, ("enriched",))


def _locate_index(spec: str) -> str:
    from pathlib import Path

    from kdata.index.build import RECORD

    root = Path(spec).expanduser().resolve()
    if not (root / RECORD).is_file():
        raise NotFound(f"{root} is not a finished index (no {RECORD})")
    return str(root)


def check_models(plan: T2IPlan) -> T2IPlan:
    """``plan`` with where each model loads from; a ConfigError naming the option when one cannot be found."""
    kinds = {"--base": STABLE_DIFFUSION, "--text-encoder": TEXT_ENCODER, "--translator": TRANSLATOR,
             "--english-clip": CLIP, "--korean-clip": CLIP, "--refiner": REFINER, "--upscaler": UPSCALER}
    checked, failures = [], []
    for use in plan.models:
        if use.spec is None:
            checked.append(replace(use, found=BASES_OWN))
            continue
        try:
            if use.option == "--prompt-index":
                checked.append(replace(use, found=_locate_index(use.spec)))
                continue
            kind = kinds[use.option]
            found = locate_clip(use.spec) if kind is CLIP else locate(use.spec, kind)
        except NotFound as exc:
            failures.append(f"{use.option} {use.shown()}: {exc}; {FIXES[use.option]}")
            continue
        checked.append(replace(use, found=found))
    if failures:
        also = f" (also not found: {', '.join(f.split(' ', 1)[0] for f in failures[1:])})" if failures[1:] else ""
        raise ConfigError(failures[0] + also)
    return replace(plan, models=checked)
