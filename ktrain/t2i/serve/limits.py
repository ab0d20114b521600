"""What a generation request may ask for, and the one-line messages for what it may not.

The request body is parsed by pydantic (types only); the limits are checked here because they come from
``kcli serve`` options, and every refusal names the field, the value and the allowed range in words a
user of the page can act on.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from pydantic import BaseModel, Field

MAX_SEED = 2**32 - 1  # torch.Generator.manual_seed takes any 64-bit value; 32 bits are easier to retype
MAX_GUIDANCE = 30.0
MAX_LORA_WEIGHT = 2.0  # beyond about twice its trained strength a LoRA only distorts the image
MAX_LORA_NAME_CHARS = 64
LORA_NAME_RULE = ("letters and digits of any script (e.g. '한복 LoRA'), spaces, '-' and '_', starting with a "
                  f"letter or digit, at most {MAX_LORA_NAME_CHARS} characters")
# Letters and marks that draw nothing: Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt)
# within categories L and M. A name made of them would show as a blank checkbox label.
_INVISIBLE = frozenset(chr(c) for first, last in ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5),
                                                   (0x180B, 0x180D), (0x180F, 0x180F), (0x3164, 0x3164),
                                                   (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF))
                       for c in range(first, last + 1))


def lora_name(text: str) -> str:
    """``text`` as a LoRA's name: NFC, without surrounding spaces, checked; ValueError naming the problem.

    A name is only ever shown (set as text in the page, echoed in JSON) and compared: the engine gives each
    adapter an internal name of its own, and no file is named after it. NFC because the same Hangul may
    arrive precomposed from one keyboard and decomposed (NFD) from another, e.g. a name copied on macOS.
    """
    name = unicodedata.normalize("NFC", text).strip()
    if not name:
        raise ValueError(f"a name is {LORA_NAME_RULE}; this one is empty")
    if len(name) > MAX_LORA_NAME_CHARS:
        raise ValueError(f"a name is {LORA_NAME_RULE}; this one has {len(name)} characters")
    for char in name:
        allowed = char in " -_" or unicodedata.category(char)[0] in "LMN"
        if not allowed or char in _INVISIBLE:
            raise ValueError(f"a name is {LORA_NAME_RULE}; U+{ord(char):04X} is not allowed")
    if unicodedata.category(name[0])[0] not in "LN":
        raise ValueError(f"a name is {LORA_NAME_RULE}; this one starts with {name[0]!r}")
    return name


def _shown(text: str, limit: int = 64) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters: request values are the client's."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


@dataclass(frozen=True)
class ServeLimits:
    max_prompt_chars: int = 200
    max_steps: int = 50
    max_image_size: int = 768
    max_queue: int = 8  # requests that may wait while one renders; one more is told to retry
    default_steps: int = 30
    default_guidance: float = 7.5

    def __post_init__(self) -> None:
        from kdata.errors import ConfigError

        for name in ("max_prompt_chars", "max_steps", "max_image_size", "default_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_queue < 0:
            raise ConfigError(f"--max-queue must be 0 or more, got {self.max_queue}")


class LoraChoice(BaseModel):
    name: str
    weight: float = 1.0


class GenerateRequest(BaseModel):
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None  # None: a random seed, reported back so the image can be remade
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    loras: list[LoraChoice] = Field(default_factory=list)
    pipeline: str = "ko-encoder"  # or "translate": Korean → translator → the base's own English encoder
    refine: bool = False  # run the SDXL refiner pass (a server started with --refiner)
    upscale: bool = False  # run the x2 latent upscaler (a server started with --upscaler)


@dataclass(frozen=True)
class Features:
    """What this server can do beyond the base: which pipelines and optional stages a request may ask for."""

    pipelines: tuple[str, ...] = ("ko-encoder",)
    refiner: bool = False
    upscaler: bool = False


@dataclass(frozen=True)
class Job:
    """A checked request: every value present and within the limits."""

    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    loras: tuple[tuple[str, float], ...]
    pipeline: str = "ko-encoder"
    refine: bool = False
    upscale: bool = False


class RequestRejected(ValueError):
    """A request outside the limits; ``str(exc)`` is the message shown to the user."""


def _check_text(label: str, text: str, limit: int) -> str:
    text = text.strip()
    if len(text) > limit:
        raise RequestRejected(f"The {label} is {len(text)} characters long; the limit is {limit} characters. "
                              "Please shorten it.")
    return text


def _check_size(width: int, height: int, limits: ServeLimits, multiple: int) -> None:
    for label, value in (("Width", width), ("Height", height)):
        if not multiple <= value <= limits.max_image_size or value % multiple:
            raise RequestRejected(f"{label} must be a multiple of {multiple} between {multiple} and "
                                  f"{limits.max_image_size} pixels; got {value}.")


def _check_loras(choices: list[LoraChoice], available: list[str]) -> tuple[tuple[str, float], ...]:
    picked: dict[str, float] = {}
    for choice in choices:
        try:
            name = lora_name(choice.name)  # the page may send the name decomposed (NFD)
        except ValueError:
            name = None
        if name not in available:
            names = ", ".join(available) or "none are loaded"
            raise RequestRejected(f"Unknown LoRA {_shown(choice.name)}; available: {names}.")
        if not -MAX_LORA_WEIGHT <= choice.weight <= MAX_LORA_WEIGHT:
            raise RequestRejected(f"The weight of LoRA {name!r} must be between {-MAX_LORA_WEIGHT:g} and "
                                  f"{MAX_LORA_WEIGHT:g}; got {choice.weight:g}.")
        if name in picked:
            raise RequestRejected(f"LoRA {name!r} is chosen twice.")
        picked[name] = choice.weight
    return tuple(picked.items())


def _check_features(request: GenerateRequest, features: Features) -> None:
    if request.pipeline not in features.pipelines:
        start = " (start the server with --translator to compare)" if request.pipeline == "translate" else ""
        raise RequestRejected(f"Unknown pipeline {_shown(request.pipeline)}; available: "
                              f"{', '.join(features.pipelines)}{start}.")
    if request.refine and not features.refiner:
        raise RequestRejected("This server has no refiner (start it with --refiner).")
    if request.upscale and not features.upscaler:
        raise RequestRejected("This server has no upscaler (start it with --upscaler).")


def check_request(request: GenerateRequest, limits: ServeLimits, loras: list[str], native_size: int,
                  size_multiple: int, features: Features = Features()) -> Job:
    """The request as a :class:`Job`, or :class:`RequestRejected` with the first problem found."""
    prompt = _check_text("prompt", request.prompt, limits.max_prompt_chars)
    if not prompt:
        raise RequestRejected(f"Please enter a prompt (Korean text, up to {limits.max_prompt_chars} characters).")
    negative = _check_text("negative prompt", request.negative_prompt, limits.max_prompt_chars)
    steps = min(limits.default_steps, limits.max_steps) if request.steps is None else request.steps
    if not 1 <= steps <= limits.max_steps:
        raise RequestRejected(f"Steps must be between 1 and {limits.max_steps}; got {steps}.")
    guidance = limits.default_guidance if request.guidance is None else request.guidance
    if not 0 <= guidance <= MAX_GUIDANCE:
        raise RequestRejected(f"Guidance must be between 0 and {MAX_GUIDANCE:g}; got {guidance:g}.")
    # Only an absent size means the default: 0 or a negative size is refused like any other bad value.
    width = native_size if request.width is None else request.width
    height = native_size if request.height is None else request.height
    _check_size(width, height, limits, size_multiple)
    seed = random.randint(0, MAX_SEED) if request.seed is None else request.seed
    if not 0 <= seed <= MAX_SEED:
        raise RequestRejected(f"The seed must be between 0 and {MAX_SEED}; got {seed}.")
    _check_features(request, features)
    return Job(prompt, negative, seed, steps, guidance, width, height, _check_loras(request.loras, loras),
               request.pipeline, request.refine, request.upscale)
