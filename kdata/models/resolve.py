"""Turn a model spec (a tiny preset name, a Hugging Face id, a local directory) into a loaded model.

Real checkpoints and tiny presets go through the same `from_pretrained` / open_clip factory calls; the
only difference is that a preset name is first swapped for its built local directory. Library errors
about missing models become one-line KcliErrors that name the spec, so the CLI can print them as they are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdata.deps import require
from kdata.errors import ConfigError, KcliError
from kdata.models import tiny_open_clip
from kdata.models.presets import PRESETS, ensure_preset, get_preset

if TYPE_CHECKING:
    from collections.abc import Callable

    from transformers import CLIPModel, CLIPProcessor

_SCHEMA_PREFIXES = ("hf-hub:", "local-dir:")
# Messages the open_clip factory raises (as RuntimeError) when a name, tag or download is missing.
_OPEN_CLIP_MISSING = ("not found", "failed to download", "not a known tag")
_MAX_REASON_CHARS = 200
_PATH_PREFIXES = ("/", "./", "../", "~", "local-dir:")


def resolve_model(spec: str, family: str | None = None) -> str:
    """A preset name -> its built directory; anything else (Hub id, local path) is returned unchanged.

    With `family`, a preset of another family (say `tiny-sd` where a captioner is wanted) is a ConfigError
    naming the presets that would fit.
    """
    if spec not in PRESETS:
        return spec
    preset = get_preset(spec)
    if family is not None and preset.family != family:
        fitting = ", ".join(name for name in PRESETS if PRESETS.get(name).family == family) or "(none)"
        raise ConfigError(f"preset {spec!r} is a {preset.family} model, not {family}; use one of: {fitting}")
    return str(ensure_preset(spec))


def parse_open_clip_spec(spec: str) -> tuple[str, str | None]:
    """'ViT-B-32:laion2b_s34b_b79k' -> ('ViT-B-32', 'laion2b_s34b_b79k'); 'ViT-B-32' -> ('ViT-B-32', None).

    `hf-hub:org/repo` and `local-dir:/path` carry their own weights and are returned whole. The
    pretrained part may be a tag or a checkpoint file path.
    """
    text = spec.strip()
    if text.startswith(_SCHEMA_PREFIXES):
        return text, None
    name, colon, pretrained = text.partition(":")
    if not name or (colon and not pretrained):
        raise ConfigError(
            f"bad open_clip model spec {spec!r}: expected MODEL or MODEL:PRETRAINED, "
            "e.g. ViT-B-32:laion2b_s34b_b79k, hf-hub:org/repo or tiny-open-clip"
        )
    return name, pretrained or None


def torch_device(requested: str = "auto") -> str:
    """``auto``: the GPU this worker sees (a Ray actor sees the one it was given), else the CPU."""
    if requested != "auto":
        return requested
    torch = require("torch", "torch")
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_open_clip(spec: str, device: str = "cpu") -> tuple[Any, Callable[..., Any], Any]:
    """(model in eval mode, image preprocess, tokenizer) for an open_clip spec or `tiny-open-clip`. fp32."""
    open_clip = require("open_clip", "open_clip_torch")
    name, pretrained = parse_open_clip_spec(spec)
    if name in PRESETS:
        if pretrained is not None:
            raise ConfigError(f"preset {name!r} carries its own weights; drop ':{pretrained}' from {spec!r}")
        name, pretrained = tiny_open_clip.register(_preset_dir(name, "open-clip"))
    with load_errors(spec, "open_clip model"):
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, precision="fp32", device=device
        )
        tokenizer = open_clip.get_tokenizer(name)
    model.eval()
    return model, preprocess, tokenizer


def load_hf_clip(spec: str, device: str = "cpu") -> tuple[CLIPModel, CLIPProcessor]:
    """(CLIPModel in eval mode, CLIPProcessor) for a Hub id, a local directory or `tiny-clip`. fp32."""
    torch = require("torch", "torch")
    transformers = require("transformers", "transformers")
    path = resolve_model(spec, family="hf-clip")
    with load_errors(spec, "CLIP model"):
        # transformers 5 loads in the checkpoint's own dtype by default; this CPU path is fp32 only.
        model = transformers.CLIPModel.from_pretrained(path, dtype=torch.float32)
        processor = transformers.CLIPProcessor.from_pretrained(path)
    model.to(device).eval()
    return model, processor


def _preset_dir(name: str, family: str) -> Path:
    return Path(resolve_model(name, family=family))


@contextlib.contextmanager
def load_errors(spec: str, what: str) -> Iterator[None]:
    """Re-raise a library's loading failure as a one-line KcliError naming `spec`."""
    try:
        yield
    except KcliError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise KcliError(_load_error_message(spec, what, exc)) from exc


def _load_error_message(spec: str, what: str, exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    reason = lines[0] if lines else type(exc).__name__
    if len(reason) > _MAX_REASON_CHARS:
        reason = reason[: _MAX_REASON_CHARS - 3] + "..."
    if spec.startswith(_PATH_PREFIXES) and not Path(spec.removeprefix("local-dir:")).expanduser().exists():
        # Hub clients report a missing local path as a malformed repo id; say what the user meant.
        reason = "no such local file or directory"
    missing = isinstance(exc, OSError) or any(key in reason.lower() for key in _OPEN_CLIP_MISSING)
    if not missing:
        return f"could not load {what} {spec!r}: {reason}"
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    where = "locally, and downloads are off (HF_HUB_OFFLINE=1)" if offline else "locally or on the Hub"
    return f"{what} {spec!r} could not be found {where}: {reason}"
