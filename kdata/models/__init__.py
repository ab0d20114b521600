"""Model registry: tiny offline presets and one way to resolve and load CLIP-family models.

Exports are resolved lazily (PEP 562): `import kdata.models` must stay cheap and must not import torch,
because the CLI imports it to build `--help`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdata.lazy import lazy_exports

if TYPE_CHECKING:
    # Redundant aliases mark these as re-exports for type checkers and linters.
    from kdata.models.home import kcli_home as kcli_home
    from kdata.models.presets import ensure_preset as ensure_preset
    from kdata.models.presets import list_presets as list_presets
    from kdata.models.resolve import load_hf_clip as load_hf_clip
    from kdata.models.resolve import load_open_clip as load_open_clip
    from kdata.models.resolve import parse_open_clip_spec as parse_open_clip_spec
    from kdata.models.resolve import resolve_model as resolve_model
    from kdata.models.resolve import torch_device as torch_device

_EXPORTS = {
    "kcli_home": "kdata.models.home",
    "ensure_preset": "kdata.models.presets",
    "list_presets": "kdata.models.presets",
    "resolve_model": "kdata.models.resolve",
    "parse_open_clip_spec": "kdata.models.resolve",
    "load_hf_clip": "kdata.models.resolve",
    "load_open_clip": "kdata.models.resolve",
    "torch_device": "kdata.models.resolve",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
