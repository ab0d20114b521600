"""Tiny model presets: random-weight stand-ins for real checkpoints, built offline on first use.

Each preset is built from a fixed config under a fixed seed, saved with its library's own
`save_pretrained` (safetensors) into `<kcli_home>/presets/<name>/`, and then loaded by callers through the
same `from_pretrained` path as a real checkpoint. So a test or a demo exercises real loading code, and
the same name gives the same weights on every machine.

Building is atomic: everything is written into a temporary sibling directory, a marker file is written
last, and only then is the directory renamed into place. A directory without a matching marker (a crash,
an older preset version) is never used; it is replaced.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdata.models.home import presets_dir
from kdata.models.tiny_captioner import build_tiny_captioner
from kdata.models.tiny_clip import build_tiny_clip
from kdata.models.tiny_latent_upscaler import build_tiny_latent_upscaler
from kdata.models.tiny_open_clip import build_tiny_open_clip
from kdata.models.tiny_sd import build_tiny_sd
from kdata.models.tiny_sdxl import build_tiny_sdxl
from kdata.models.tiny_sdxl_refiner import build_tiny_sdxl_refiner
from kdata.models.tiny_translator import build_tiny_translator
from kdata.registry import Registry

MARKER_FILE = ".kcli-preset.json"


@dataclass(frozen=True)
class PresetSpec:
    """How to build one preset. Bump `version` whenever `build` changes what it writes."""

    name: str
    family: str  # which loader reads it: hf-clip, open-clip, stable-diffusion, image-to-text, translation,
    # sdxl-refiner, latent-upscaler
    description: str
    build: Callable[[Path], None]
    version: int = 1


PRESETS: Registry[PresetSpec] = Registry("model preset")


def _translator(source: str, target: str) -> PresetSpec:
    return PresetSpec(
        name=f"tiny-translator-{source}-{target}",
        family="translation",
        description=f"M2M100 translator {source} -> {target}, byte-fallback sentencepiece",
        build=functools.partial(build_tiny_translator, source_lang=source, target_lang=target),
    )


for _spec in (
    PresetSpec("tiny-clip", "hf-clip", "transformers CLIPModel + real CLIP BPE, 32 px", build_tiny_clip),
    PresetSpec("tiny-open-clip", "open-clip", "open_clip CLIP, tiny model config, 32 px", build_tiny_open_clip),
    PresetSpec("tiny-sd", "stable-diffusion", "Stable Diffusion 1.x pipeline, 64 px", build_tiny_sd),
    PresetSpec("tiny-sdxl", "stable-diffusion", "Stable Diffusion XL base pipeline, two text encoders, 64 px",
               build_tiny_sdxl),
    PresetSpec("tiny-captioner", "image-to-text", "BLIP image captioner, 32 px", build_tiny_captioner),
    _translator("en", "ko"),
    _translator("ko", "en"),
    PresetSpec("tiny-sdxl-refiner", "sdxl-refiner", "SDXL refiner img2img pipeline (text_encoder_2 only), 64 px",
               build_tiny_sdxl_refiner),
    PresetSpec("tiny-latent-upscaler", "latent-upscaler", "x2 latent upscaler pipeline on tiny-sd latents",
               build_tiny_latent_upscaler),
):
    PRESETS.add(_spec.name, _spec)


def list_presets() -> list[str]:
    """The names `ensure_preset` and `resolve_model` accept, sorted."""
    return PRESETS.names()


def get_preset(name: str) -> PresetSpec:
    """The preset's spec; an unknown name raises ConfigError listing the valid ones."""
    return PRESETS.get(name)


def preset_path(name: str) -> Path:
    """Where the preset lives once built (whether or not it is built yet)."""
    return presets_dir() / get_preset(name).name


def is_built(name: str) -> bool:
    """True when the preset's directory is complete for the current preset version."""
    spec = get_preset(name)
    return _marker_matches(presets_dir() / spec.name, spec)


def ensure_preset(name: str) -> Path:
    """Build the preset if it is missing or stale, and return its directory."""
    spec = get_preset(name)
    target = presets_dir() / spec.name
    if _marker_matches(target, spec):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.building-", dir=target.parent))
    try:
        spec.build(staging)
        _write_marker(staging, spec)  # last: its presence means every other file is complete
        _move_into_place(staging, target, spec)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _marker_matches(directory: Path, spec: PresetSpec) -> bool:
    try:
        marker = json.loads((directory / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("name") == spec.name and marker.get("version") == spec.version


def _write_marker(directory: Path, spec: PresetSpec) -> None:
    marker = {"name": spec.name, "version": spec.version, "family": spec.family}
    (directory / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _move_into_place(staging: Path, target: Path, spec: PresetSpec) -> None:
    """Rename the finished build onto `target`, first moving aside any stale or half-built directory."""
    if target.exists():
        if _marker_matches(target, spec):  # another process finished first; keep its copy
            return
        stale = Path(tempfile.mkdtemp(prefix=f".{spec.name}.stale-", dir=target.parent))
        os.replace(target, stale / "old")
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        # A concurrent build renamed its copy in between; theirs is as good as ours if it is complete.
        if not _marker_matches(target, spec):
            raise
