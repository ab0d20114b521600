"""Where a model an evaluation names will load from, found without loading it.

A spec is, in this order: a tiny preset (of the right family), an existing local path, or a Hugging Face
Hub id — found in the local Hugging Face cache, or, unless downloads are off (``HF_HUB_OFFLINE=1``),
on the Hub (one ``HEAD`` request for a file every repository of that kind holds: ``model_index.json`` for
a diffusers pipeline, ``config.json`` for a transformers model). open_clip specs follow open_clip's own
rules: ``local-dir:PATH``, ``hf-hub:org/repo``, or ``MODEL:TAG`` from open_clip's pretrained table.

This is the cheap half of "can it be loaded": a spec found here may still fail to load (a broken file, a
model of another architecture), but a spec not found here would fail for certain, so ``eval t2i`` checks
every model before its first image instead of after its last one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kdata.deps import hub_transport_errors
from kdata.models.presets import PRESETS

# What a found spec is, for the plan a person reads.
PRESET, LOCAL, CACHED, HUB, UNCHECKED = ("tiny preset", "local", "Hugging Face cache",
                                         "Hub (downloaded on first use)", "open_clip download URL (not checked)")
OPEN_CLIP_CONFIG = "open_clip_config.json"


class NotFound(Exception):
    """The spec cannot be loaded; ``str(exc)`` says why in a few words."""


@dataclass(frozen=True)
class ModelKind:
    what: str  # "Stable Diffusion model", for messages
    family: str | None  # the preset family that fits; None: no preset fits
    hub_file: str | None  # a file every Hub repository of this kind holds; None: local paths only

    def presets(self) -> list[str]:
        return [name for name in PRESETS.names() if PRESETS.get(name).family == self.family]


STABLE_DIFFUSION = ModelKind("Stable Diffusion model", "stable-diffusion", "model_index.json")
TEXT_ENCODER = ModelKind("text encoder folder", None, None)  # ktrain.lora.models.text_encoder_dirs: local only
TRANSLATOR = ModelKind("translator", "translation", "config.json")
CLIP = ModelKind("CLIP model", None, "config.json")  # hf-clip or open-clip presets: see locate_clip
REFINER = ModelKind("SDXL refiner", "sdxl-refiner", "model_index.json")
UPSCALER = ModelKind("latent upscaler", "latent-upscaler", "model_index.json")


def hub_offline() -> bool:
    """Downloads are off: ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) now, or when huggingface_hub was imported."""
    from huggingface_hub import constants

    now = any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
              for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return now or constants.is_offline_mode()


def locate(spec: str, kind: ModelKind) -> str:
    """Where ``spec`` will load from (:data:`PRESET`, :data:`LOCAL`, :data:`CACHED` or :data:`HUB`), or NotFound."""
    if spec in PRESETS:
        family = PRESETS.get(spec).family
        if family != kind.family:
            fitting = ", ".join(kind.presets()) or "none does"
            raise NotFound(f"preset {spec!r} is a {family} model, not a {kind.what} (presets that fit: {fitting})")
        return PRESET
    if Path(spec).expanduser().exists():
        return LOCAL
    if kind.hub_file is None or not _is_repo_id(spec):
        raise NotFound("no such local file or folder")
    return _on_hub(spec, (kind.hub_file,))


def locate_clip(spec: str) -> str:
    """:func:`locate` for a scoring CLIP, transformers' or open_clip's as :func:`.clipscore.clip_backend` decides."""
    from ktrain.t2i.clipscore import clip_backend

    if spec in PRESETS:
        if PRESETS.get(spec).family not in ("hf-clip", "open-clip"):
            raise NotFound(f"preset {spec!r} is a {PRESETS.get(spec).family} model, not CLIP (presets that fit: "
                           "tiny-clip, tiny-open-clip)")
        return PRESET
    if clip_backend(spec) == "hf":
        return locate(spec, CLIP)
    return _locate_open_clip(spec)


def _locate_open_clip(spec: str) -> str:
    from kdata.errors import ConfigError
    from kdata.models.resolve import parse_open_clip_spec

    try:
        name, tag = parse_open_clip_spec(spec)
    except ConfigError:
        raise NotFound("not an open_clip spec (MODEL:TAG, hf-hub:org/repo or local-dir:PATH)") from None
    if name.startswith("local-dir:"):
        if not Path(name.removeprefix("local-dir:")).expanduser().exists():
            raise NotFound("no such local folder")
        return LOCAL
    if name.startswith("hf-hub:"):
        return _on_hub(name.removeprefix("hf-hub:"), (OPEN_CLIP_CONFIG,))
    if tag and Path(tag).expanduser().exists():  # MODEL:/path/to/checkpoint.pt
        return LOCAL
    from open_clip import pretrained

    config = pretrained.get_pretrained_cfg(name, tag or "")
    if not config:
        raise NotFound(f"open_clip has no pretrained weights {tag!r} for {name!r} (open_clip.list_pretrained() "
                       "lists them)")
    if not config.get("hf_hub"):
        return UNCHECKED
    # open_clip's table says "org/repo/" for its default weights file, "org/repo/file.bin" for another.
    repo, filename = os.path.split(config["hf_hub"])
    return _on_hub(repo, (filename,) if filename else (pretrained.HF_SAFE_WEIGHTS_NAME, pretrained.HF_WEIGHTS_NAME))


def _is_repo_id(spec: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(spec)
    except HFValidationError:
        return False
    return True


def _on_hub(repo: str, files: tuple[str, ...]) -> str:
    from huggingface_hub import try_to_load_from_cache

    if not _is_repo_id(repo):
        raise NotFound(f"{repo!r} is not a Hugging Face repository id (org/name)")
    if any(isinstance(try_to_load_from_cache(repo, name), str) for name in files):
        return CACHED
    if hub_offline():
        raise NotFound("not a local path, not in the Hugging Face cache, and downloads are off (HF_HUB_OFFLINE=1)")
    _ask_hub(repo, files)
    return HUB


def _ask_hub(repo: str, files: tuple[str, ...]) -> None:
    """One HEAD request per candidate file until one exists; NotFound with a short reason otherwise."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    api = HfApi()  # built now, so HF_ENDPOINT is read now (the module-level helpers keep the import-time one)
    try:
        if any(api.file_exists(repo, name) for name in files):
            return
    except GatedRepoError:
        raise NotFound(f"a gated model on {api.endpoint}: accept its terms there, then log in (hf auth login) or "
                       "set HF_TOKEN") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise NotFound(f"not a local path or cached, and {api.endpoint} answered HTTP {status}") from None
    except (OSError, *hub_transport_errors()) as exc:
        detail = (str(exc).splitlines() or [""])[0][:120]
        raise NotFound(f"not a local path or cached, and {api.endpoint} could not be reached "
                       f"({type(exc).__name__}: {detail})") from None
    raise NotFound(f"not a local path or cached, and not a model on {api.endpoint} (no {files[-1]} in {repo})")

