"""Export: a folder in diffusers' component layout that drops into a Stable Diffusion pipeline.

::

    OUT/text_encoder/      config.json + model.safetensors   (CLIPTextModel.from_pretrained(OUT, subfolder=...))
    OUT/tokenizer/         tokenizer files                   (CLIPTokenizer.from_pretrained(OUT, subfolder=...))
    OUT/kcli_encoder.json  per component: teacher, config, manifest fingerprint, metrics

SDXL has two encoders (``text_encoder`` + ``tokenizer`` and ``text_encoder_2`` + ``tokenizer_2``): each
is trained by its own run (``text_encoder_subfolder = "text_encoder_2"``) and exported into the same
folder, which then holds both, and :func:`pipeline_kwargs` hands all of them to
``StableDiffusionXLPipeline.from_pretrained(base, **kwargs)``. Each component folder is written under a
temporary name and renamed into place, so an interrupted export never leaves a half-written model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from kdata.atomic import write_json_atomic
from kdata.deps import require
from kdata.errors import ConfigError

INFO_FILE = "kcli_encoder.json"


def tokenizer_folder(component: str) -> str:
    """``text_encoder`` → ``tokenizer``, ``text_encoder_2`` → ``tokenizer_2`` (diffusers' names)."""
    return component.replace("text_encoder", "tokenizer")


def _replace_dir(out: Path, name: str, save: Any) -> None:
    tmp = out / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    save(str(tmp))
    final = out / name
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def read_info(out: str | Path) -> dict[str, Any]:
    path = Path(out) / INFO_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"components": {}}


def export_encoder(out: str | Path, model: Any, tokenizer: Any, info: dict[str, Any],
                   component: str = "text_encoder") -> Path:
    """Save ``model`` and ``tokenizer`` as ``component`` of the export folder ``out`` (others are kept)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unwrapped = getattr(model, "module", model)
    _replace_dir(out, component, lambda p: unwrapped.save_pretrained(p, safe_serialization=True))
    _replace_dir(out, tokenizer_folder(component), tokenizer.save_pretrained)
    record = read_info(out)
    record["components"][component] = {**info, "component": component, "tokenizer": tokenizer_folder(component)}
    write_json_atomic(out / INFO_FILE, record)
    return out


def load_export_component(out: str | Path, component: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """(text model in eval mode, tokenizer, its info) of one component; the only one when ``component`` is None."""
    from ktrain.encoder.student import load_text_encoder
    from ktrain.encoder.tokenizer import load_tokenizer

    out = Path(out)
    components = read_info(out)["components"]
    if not components:
        raise ConfigError(f"{out} is not a kcli encoder export ({INFO_FILE} is missing); "
                          "pass the best/ or final/ folder of a training run")
    name = component or sorted(components)[0]
    if name not in components:
        raise ConfigError(f"{out} has no component {name!r}; it has: {', '.join(sorted(components))}")
    model = load_text_encoder(str(out), subfolder=name).eval()
    return model, load_tokenizer(out, subfolder=tokenizer_folder(name)), components[name]


def pipeline_kwargs(out: str | Path, dtype: Any = None) -> dict[str, Any]:
    """``text_encoder``/``tokenizer`` (and ``_2``) keyword arguments for ``*Pipeline.from_pretrained(base, ...)``."""
    torch = require("torch", "torch")
    kwargs: dict[str, Any] = {}
    for name in read_info(out)["components"]:
        model, tokenizer, _ = load_export_component(out, name)
        kwargs[name] = model.to(dtype or torch.float32)
        kwargs[tokenizer_folder(name)] = tokenizer
    return kwargs


def load_pipeline(base: str, out: str | Path, dtype: Any = None) -> Any:
    """The base Stable Diffusion pipeline (SD 1.x/2.x, or SDXL when the export has two encoders) reading Korean."""
    diffusers = require("diffusers", "diffusers")
    from kdata.models.resolve import resolve_model

    kwargs = pipeline_kwargs(out, dtype)
    cls = diffusers.StableDiffusionXLPipeline if "text_encoder_2" in kwargs else diffusers.StableDiffusionPipeline
    extra = {"safety_checker": None, "requires_safety_checker": False} if cls is diffusers.StableDiffusionPipeline \
        else {}
    return cls.from_pretrained(resolve_model(base), **kwargs, **extra, **({"dtype": dtype} if dtype else {}))
