"""The model behind ``kcli serve``: loaded once at start-up, then one image per call, each stage timed.

The pipeline is the base with the Korean text encoder swapped in (or the base's own, without one). With
``--translator``, a request may instead take the translate-then-generate path (Korean → translator → the
base's own English encoder, same UNet and VAE), so the page can show both side by side. With ``--refiner``
and ``--upscaler`` (:mod:`ktrain.t2i.stages`), each request says whether to run them; the refiner reads the
translation on the translate path and only its refine prompt on the Korean-encoder path. Each
``--lora NAME=PATH`` is loaded once as its own adapter; a request picks any of them with weights, and the
engine activates exactly those (``set_adapters``) or none (``disable_lora``) before rendering. Calls are
made from a single worker thread, so switching adapters never races with a render.

A NAME is what users see and pick ("수묵화 LoRA": :func:`~ktrain.t2i.serve.limits.lora_name` says which
names are allowed). peft gets ``lora0``, ``lora1`` ... instead, as ``kcli generate`` names its adapters:
peft keeps adapters in ``ModuleDict`` keys and state-dict key paths, where a dot or a space would split or
confuse a key, and no name reaches a file name.
"""

from __future__ import annotations

import functools
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from ktrain.t2i.models import Device, load_base, native_size, pick_device, with_text_encoder
from ktrain.t2i.render import RenderSettings, render, timed
from ktrain.t2i.serve.limits import Features, Job, lora_name
from ktrain.t2i.stages import PostStages, StagesConfig

# diffusers' StableDiffusionPipeline.check_inputs refuses sides that do not divide by 8; the UNet itself
# pads odd latent sizes (forward_upsample_size), so 8 is the whole rule for SD 1.x.
SIZE_MULTIPLE = 8


@dataclass
class Rendered:
    png: bytes
    seconds: dict[str, float]  # [translate,] text_encode, denoise, [upscale,] decode, [refine,] encode_png
    prompt_used: str = ""  # what the base's text encoder read (the translation on the translate path)


def parse_lora_options(options: list[str]) -> dict[str, str]:
    """``["수묵화 LoRA=/path/ink.safetensors", ...]`` → ``{"수묵화 LoRA": "/path/ink.safetensors"}``, checked."""
    loras: dict[str, str] = {}
    for option in options:
        given, sep, path = option.partition("=")
        if not sep or not path:
            raise ConfigError(f"--lora {option!r}: expected NAME=PATH, e.g. --lora ink=out/lora/ink.safetensors")
        try:
            name = lora_name(given)
        except ValueError as exc:
            raise ConfigError(f"--lora {option!r}: {exc}") from None
        if name in loras:
            raise ConfigError(f"--lora: the name {name!r} is given twice")
        if not Path(path).exists():
            raise ConfigError(f"--lora {option!r}: no such file or folder")
        loras[name] = path
    return loras


LORA_FILE = "pytorch_lora_weights.safetensors"  # what kcli train lora and diffusers write into a LoRA folder


def loras_in_folder(folder: str) -> dict[str, str]:
    """Each trained LoRA in ``folder`` by name: a ``NAME.safetensors`` file, or a ``NAME/`` folder holding
    diffusers' LoRA file (``kcli train lora``'s output); anything else is left alone."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"--lora-dir {folder}: no such folder")
    found: dict[str, str] = {}
    for entry in sorted(root.iterdir()):
        if entry.is_file() and entry.suffix == ".safetensors":
            given = entry.stem
        elif entry.is_dir() and (entry / LORA_FILE).is_file():
            given = entry.name
        else:
            continue
        try:
            found[lora_name(given)] = str(entry)
        except ValueError as exc:
            raise ConfigError(f"--lora-dir {folder}: {entry.name}: {exc}; rename it") from None
    if not found:
        raise ConfigError(f"--lora-dir {folder}: no LoRA in it (NAME.safetensors files or NAME/{LORA_FILE})")
    return found


def adapter_names(names: list[str]) -> dict[str, str]:
    """Each LoRA's name → the adapter name peft and diffusers see (see the module docstring)."""
    return {name: f"lora{index}" for index, name in enumerate(names)}


@dataclass
class EngineModels:
    """What ``kcli serve`` loads beyond the base and its LoRAs."""

    text_encoder: str | None = None
    translator: str | None = None  # enables the translate path (side-by-side comparison)
    stages: StagesConfig = field(default_factory=StagesConfig)


class GenerationEngine:
    def __init__(self, base: str, text_encoder: str | None = None, loras: dict[str, str] | None = None,
                 device: Device | None = None, variant: str | None = None, base_config: str | None = None,
                 extra: EngineModels | None = None) -> None:
        self.device = device or pick_device()
        self.extra = extra or EngineModels(text_encoder)
        self.base, self.text_encoder = base, text_encoder
        self.english = load_base(base, self.device, variant, base_config)
        self.pipe = with_text_encoder(self.english, text_encoder, self.device)
        self.translator = self._load_translator(self.extra.translator)
        self.stages = PostStages(self.extra.stages)
        self.stages.check(self.english)  # a stage that cannot follow this base: refused at start, not per request
        self.stages.load(self.device.name, self.device.dtype)
        self.features = Features(("ko-encoder", "translate") if self.translator else ("ko-encoder",),
                                 bool(self.extra.stages.refiner), bool(self.extra.stages.upscaler))
        self.lora_names = list(loras or {})
        self.adapters = adapter_names(self.lora_names)
        for name, path in (loras or {}).items():
            self._load_lora(self.adapters[name], path)
        self.native_size = native_size(self.pipe)
        self.size_multiple = SIZE_MULTIPLE

    def _load_translator(self, spec: str | None) -> Any:
        if not spec:
            return None
        from ktrain.t2i.translator import KoreanToEnglish

        return KoreanToEnglish(spec, self.device.name)

    def _load_lora(self, adapter: str, path: str) -> None:
        from ktrain.lora.loading import load_lora  # kcli generate's: diffusers or kohya files, text-encoder parts too

        load_lora(self.pipe, Path(path), adapter)

    def describe(self) -> dict[str, Any]:
        stages = self.extra.stages
        return {"base": self.base, "text_encoder": self.text_encoder or "(the base's own)",
                "device": self.device.name, "loras": self.lora_names, "native_size": self.native_size,
                "size_multiple": self.size_multiple, "translator": self.extra.translator,
                "refiner": stages.refiner, "upscaler": stages.upscaler,
                "refine_prompt": stages.refine_prompt if stages.refiner else None,
                "pipelines": list(self.features.pipelines)}

    def _activate(self, loras: tuple[tuple[str, float], ...]) -> None:
        if not self.lora_names:
            return
        if not loras:
            self.pipe.disable_lora()
            return
        self.pipe.enable_lora()
        self.pipe.set_adapters([self.adapters[name] for name, _ in loras],
                               adapter_weights=[weight for _, weight in loras])

    def generate(self, job: Job) -> Rendered:
        """Render one job (called from the single worker thread only)."""
        self._activate(job.loras)  # the adapters live in the UNet both paths share
        settings = RenderSettings(job.steps, job.guidance, job.negative_prompt, job.height, job.width)
        pipe, prompt, seconds = self.pipe, job.prompt, {}
        if job.pipeline == "translate":
            pipe = self.english
            prompt, seconds["translate"] = timed(lambda: self.translator.translate([job.prompt])[0], self.device)
        finish = functools.partial(self.stages, refine=job.refine, upscale=job.upscale)
        image, stage_seconds = render(pipe, prompt, job.seed, settings, self.device, finish)
        seconds.update(stage_seconds)
        started = time.perf_counter()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        seconds["encode_png"] = time.perf_counter() - started
        return Rendered(buffer.getvalue(), seconds, prompt)
