"""The model behind ``kcli serve``: loaded once at start-up, then one image per call, each stage timed.

The pipeline is the base with the Korean text encoder swapped in (or the base's own, without one). Each
``--lora NAME=PATH`` is loaded once as its own adapter; a request picks any of them with weights, and the
engine activates exactly those (``set_adapters``) or none (``disable_lora``) before rendering. Calls are
made from a single worker thread, so switching adapters never races with a render.

A NAME is what users see and pick ("수묵화 LoRA": :func:`~ktrain.t2i.serve.limits.lora_name` says which
names are allowed). peft gets ``lora0``, ``lora1`` ... instead, as ``kcli generate`` names its adapters:
peft keeps adapters in ``ModuleDict`` keys and state-dict key paths, where a dot or a space would split or
confuse a key, and no name reaches a file name.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError
from ktrain.t2i.models import Device, load_base, native_size, pick_device, with_text_encoder
from ktrain.t2i.render import RenderSettings, render
from ktrain.t2i.serve.limits import Job, lora_name

# diffusers' StableDiffusionPipeline.check_inputs refuses sides that do not divide by 8; the UNet itself
# pads odd latent sizes (forward_upsample_size), so 8 is the whole rule for SD 1.x.
SIZE_MULTIPLE = 8


@dataclass
class Rendered:
    png: bytes
    seconds: dict[str, float]  # text_encode, denoise, decode


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


def adapter_names(names: list[str]) -> dict[str, str]:
    """Each LoRA's name → the adapter name peft and diffusers see (see the module docstring)."""
    return {name: f"lora{index}" for index, name in enumerate(names)}


class GenerationEngine:
    def __init__(self, base: str, text_encoder: str | None = None, loras: dict[str, str] | None = None,
                 device: Device | None = None, variant: str | None = None, base_config: str | None = None) -> None:
        self.device = device or pick_device()
        self.base, self.text_encoder = base, text_encoder
        pipe = load_base(base, self.device, variant, base_config)
        self.pipe = with_text_encoder(pipe, text_encoder, self.device)
        self.lora_names = list(loras or {})
        self.adapters = adapter_names(self.lora_names)
        for name, path in (loras or {}).items():
            self._load_lora(self.adapters[name], path)
        self.native_size = native_size(self.pipe)
        self.size_multiple = SIZE_MULTIPLE

    def _load_lora(self, adapter: str, path: str) -> None:
        from ktrain.lora.loading import load_lora  # kcli generate's: diffusers or kohya files, text-encoder parts too

        load_lora(self.pipe, Path(path), adapter)

    def describe(self) -> dict[str, Any]:
        return {"base": self.base, "text_encoder": self.text_encoder or "(the base's own)",
                "device": self.device.name, "loras": self.lora_names, "native_size": self.native_size,
                "size_multiple": self.size_multiple}

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
        self._activate(job.loras)
        settings = RenderSettings(job.steps, job.guidance, job.negative_prompt, job.height, job.width)
        image, seconds = render(self.pipe, job.prompt, job.seed, settings, self.device)
        started = time.perf_counter()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        seconds["encode_png"] = time.perf_counter() - started
        return Rendered(buffer.getvalue(), seconds)
