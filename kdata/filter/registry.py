"""The filter registry: every per-row check is a small function registered by name with its config class.

A rule in a filter config names a registered filter (``filter = "blur"``) and sets that filter's
parameters; unknown filter names and unknown parameters are errors that list the valid ones. A check
sees one row's features (the manifest columns plus the metrics the score stage added) and returns the
reason to reject it, or ``None`` to keep it. It never raises for bad data: a missing value is a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kdata.registry import Registry

# What a filter needs computed before its check can run; the score stage loads only what rules need.
NEEDS_IMAGE = "image"  # decoded pixels: quality metrics
NEEDS_TEXT = "text"  # a text column only
NEEDS_CLIP = "clip"  # CLIP image (and text) embeddings
NEEDS_AESTHETIC = "aesthetic"
NEEDS_SAFETY = "safety"

Check = Callable[[Mapping[str, Any], Any], "str | None"]


@dataclass(frozen=True)
class FilterSpec:
    """A registered filter: its name, parameter dataclass, what it needs, and its check."""

    name: str
    config_cls: type
    needs: str
    check: Check
    # The column a score filter thresholds; such filters also accept a global ``top_percent`` mode.
    score_column: str | None = None


FILTERS: Registry[FilterSpec] = Registry("filter")


def register_filter(
    name: str, config_cls: type, needs: str, score_column: str | None = None
) -> Callable[[Check], Check]:
    """Decorator: register ``check`` under ``name`` (a duplicate name is a bug and raises)."""

    def decorate(check: Check) -> Check:
        FILTERS.add(name, FilterSpec(name, config_cls, needs, check, score_column))
        return check

    return decorate


def load_builtin_filters() -> Registry[FilterSpec]:
    """Import the modules that register the built-in filters (idempotent) and return the registry."""
    from kdata.filter import quality, scores, text  # noqa: F401 - imported for their registrations

    return FILTERS
