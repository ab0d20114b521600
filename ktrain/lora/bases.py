"""Where a Stable Diffusion base (1.x or XL) comes from: a diffusers folder, a Hub repository, or one file.

- A **diffusers folder** (local, or the ``tiny-sd`` / ``tiny-sdxl`` presets) is used as it is.
- A **Hub id** is downloaded file by file, only what the pipeline loads: ``model_index.json``, the
  scheduler and tokenizer files, and each of ``text_encoder/``, ``unet/``, ``vae/``'s config with one set
  of weights (SDXL: ``text_encoder_2/`` and ``tokenizer_2/`` too). Repositories such as
  stable-diffusion-v1-5 also hold the original single-file checkpoints, fp16, ``non_ema`` and ``.bin`` copies
  of every component, and a safety checker kcli never runs; a
  ``*.safetensors`` pattern would fetch every one of them, several times what the pipeline loads. Weights
  are picked as diffusers picks them: safetensors over ``.bin``, the asked ``variant`` (``fp16``) where a
  component has it.
- A **single file** (``model.safetensors`` as A1111 and Civitai share them) loads through diffusers'
  ``from_single_file``. Pickled checkpoints (``.ckpt``, ``.pt``, ``.bin``) are refused: loading them can run
  code.

Which family a base is (:func:`base_family`) is read from what diffusers itself reads: the pipeline class
``model_index.json`` names (or, for one file, whether it holds SDXL's second text encoder).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from kdata.errors import ConfigError
from kdata.models.resolve import load_errors, resolve_model

log = logging.getLogger(__name__)

# Subfolders whose every file the pipeline reads, and those with a config plus one set of weights.
CONFIG_COMPONENTS = ("scheduler", "tokenizer")
WEIGHT_COMPONENTS = {"text_encoder": ("model", "pytorch_model"), "unet": ("diffusion_pytorch_model",),
                     "vae": ("diffusion_pytorch_model",)}
SDXL_CONFIG_COMPONENTS = ("tokenizer_2",)
SDXL_WEIGHT_COMPONENTS = {"text_encoder_2": ("model", "pytorch_model")}
SD1, SDXL = "sd1", "sdxl"
SDXL_PIPELINES = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline")
SINGLE_FILE_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
# name[.variant][-00001-of-00002].ext, and the shard index name.safetensors.index[.variant].json
WEIGHT_FILE = re.compile(r"^(?P<stem>[^.-]+)(?:\.(?P<variant>[^.-]+))?(?:-\d+-of-\d+)?\.(?P<ext>safetensors|bin)$")
SHARD_INDEX = re.compile(r"^(?P<stem>[^.-]+)\.(?P<ext>safetensors|bin)\.index(?:\.(?P<variant>[^.]+))?\.json$")
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
# Keys that identify an original-layout (CompVis/A1111) checkpoint and its family.
UNET_KEY_PREFIX = "model.diffusion_model."
SDXL_KEY_PREFIX = "conditioner.embedders.1."


def check_variant(variant: str | None) -> None:
    if variant is not None and not VARIANT_NAME.match(variant):
        raise ConfigError(f"variant must be a weight-file variant name such as fp16, got {variant!r}")


def resolve_base(spec: str, variant: str | None = None) -> Path:
    """A diffusers folder or a single ``.safetensors`` file for ``spec`` (a preset, a path or a Hub id)."""
    check_variant(variant)
    path = Path(resolve_model(spec, family="stable-diffusion")).expanduser()
    if path.is_file():
        if variant:
            raise ConfigError(f"--base {spec}: variant picks files of a diffusers folder or Hub repository; "
                              "a single-file checkpoint has one set of weights (leave variant unset)")
        check_single_file(spec, path)
        return path
    if path.exists():
        check_diffusers_folder(spec, path)
        return path
    if spec.lower().endswith((SINGLE_FILE_SUFFIX, *PICKLE_SUFFIXES)):
        raise ConfigError(f"--base {spec}: no such file")
    return download_base(spec, variant)


def check_diffusers_folder(spec: str, path: Path) -> None:
    if not (path / "unet").is_dir() or not (path / "vae").is_dir():
        raise ConfigError(f"--base {spec}: not a diffusers Stable Diffusion folder (needs unet/ and vae/); "
                          "a single-file checkpoint is given as its .safetensors file")
    if base_family(path) == SDXL and not (path / "text_encoder_2").is_dir():
        raise ConfigError(f"--base {spec}: an SDXL refiner or partial SDXL folder (no text_encoder_2/); "
                          "LoRA training needs an SDXL base with both text encoders")


def base_family(path: Path) -> str:
    """``sdxl`` or ``sd1`` for a diffusers folder (its ``model_index.json``) or a single ``.safetensors`` file."""
    path = Path(path)
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return SDXL if any(k.startswith(SDXL_KEY_PREFIX) for k in handle.keys()) else SD1  # noqa: SIM118
    try:
        index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    if index.get("_class_name") in SDXL_PIPELINES or "text_encoder_2" in index:
        return SDXL
    return SDXL if (path / "text_encoder_2").is_dir() else SD1


def check_single_file(spec: str, path: Path) -> None:
    """A ``.safetensors`` Stable Diffusion checkpoint in the original layout, judged from its header alone."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ConfigError(f"--base {spec}: pickled checkpoints can run code when loaded; use the model's "
                          ".safetensors file (most model pages offer one) or a diffusers folder")
    if path.suffix.lower() != SINGLE_FILE_SUFFIX:
        raise ConfigError(f"--base {spec}: expected a diffusers folder, a Hub id or a .safetensors checkpoint")
    from safetensors import safe_open

    with load_errors(spec, "Stable Diffusion checkpoint"), safe_open(str(path), framework="pt") as handle:
        keys = list(handle.keys())
    if not any(k.startswith(UNET_KEY_PREFIX) for k in keys):
        raise ConfigError(f"--base {spec}: not a Stable Diffusion checkpoint (no {UNET_KEY_PREFIX}* weights); "
                          "a LoRA file goes to --lora")


def download_base(repo_id: str, variant: str | None) -> Path:
    """Download only what the pipeline loads (see :func:`pipeline_files`); offline, the cached snapshot."""
    from huggingface_hub import snapshot_download

    with load_errors(repo_id, "Stable Diffusion model"):
        listing = repo_listing(repo_id)
        wanted = fallback_patterns(variant) if listing is None else pipeline_files(repo_id, listing, variant)
        return Path(snapshot_download(repo_id, allow_patterns=wanted))


def repo_listing(repo_id: str) -> list[str] | None:
    """The repository's files, or None when the Hub cannot be asked (offline, unreachable)."""
    from huggingface_hub import list_repo_files
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return list(list_repo_files(repo_id))
    except HfHubHTTPError:
        raise  # the Hub answered: no such repository, gated, ...
    except Exception as exc:  # noqa: BLE001 - whatever the transport, snapshot_download serves the cache next
        log.info("cannot list %s (%s); using the local cache", repo_id, type(exc).__name__)
        return None


def pipeline_files(repo_id: str, files: list[str], variant: str | None = None) -> list[str]:
    """The files of a diffusers SD 1.x or SDXL repository that its pipeline loads, sorted."""
    names = set(files)
    if "model_index.json" not in names:
        raise ConfigError(f"--base {repo_id}: not a diffusers repository (no model_index.json); for a single-file "
                          "checkpoint, download its .safetensors file and give its path")
    sdxl = any(f.startswith("text_encoder_2/") for f in names)
    configs = CONFIG_COMPONENTS + (SDXL_CONFIG_COMPONENTS if sdxl else ())
    weighted = {**WEIGHT_COMPONENTS, **(SDXL_WEIGHT_COMPONENTS if sdxl else {})}
    chosen = ["model_index.json"]
    chosen += [f for f in files if f.split("/", 1)[0] in configs and f.count("/") == 1]
    found_variant = False
    for component, stems in weighted.items():
        inside = [f.split("/", 1)[1] for f in files if f.startswith(component + "/") and f.count("/") == 1]
        weights, is_variant = pick_weights(inside, stems, variant)
        if not weights:
            raise ConfigError(f"--base {repo_id}: no {component} weights in {'/'.join(stems)}.safetensors or .bin")
        found_variant |= is_variant
        chosen += [f"{component}/config.json"] + [f"{component}/{name}" for name in weights]
    if variant and not found_variant:
        raise ConfigError(f"--base {repo_id}: no {variant!r} variant of the weights; leave variant unset")
    return sorted(set(chosen))


def pick_weights(names: list[str], stems: tuple[str, ...], variant: str | None) -> tuple[list[str], bool]:
    """(file names, whether they are ``variant``'s): the asked variant first, safetensors before ``.bin``."""
    for wanted, ext in ((variant, "safetensors"), (variant, "bin"), (None, "safetensors"), (None, "bin")):
        picked = [n for n in names if _weight_kind(n, stems) == (wanted, ext)]
        if picked:
            return sorted(picked), wanted is not None
    return [], False


def fallback_patterns(variant: str | None) -> list[str]:
    """What :func:`pipeline_files` gives for a standard repository (SD 1.x or SDXL: the SDXL-only folders
    simply match nothing in an SD 1.x cache), when the Hub cannot be listed."""
    suffix = f".{variant}.safetensors" if variant else ".safetensors"
    patterns = ["model_index.json", *(f"{c}/*" for c in CONFIG_COMPONENTS + SDXL_CONFIG_COMPONENTS)]
    for component, stems in {**WEIGHT_COMPONENTS, **SDXL_WEIGHT_COMPONENTS}.items():
        patterns += [f"{component}/config.json", f"{component}/{stems[0]}{suffix}"]
    return patterns


def _weight_kind(name: str, stems: tuple[str, ...]) -> tuple[str | None, str] | None:
    match = WEIGHT_FILE.match(name) or SHARD_INDEX.match(name)
    if match is None or match["stem"] not in stems:
        return None
    return match["variant"], match["ext"]
