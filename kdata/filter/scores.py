"""Filters over model scores: CLIP image-text similarity, aesthetic score, NSFW probability.

A score filter takes an absolute threshold (``min``) or a percentile (``top_percent``: keep the best k%
of the rows the rule applies to, DataComp-style). A percentile needs every row's score, so the score
stage leaves it alone and the global pass (:mod:`kdata.filter.decide`) resolves it to a threshold over
the whole manifest and records the value it used. Published thresholds (sources in default.toml):
LAION-5B kept CLIP ViT-B/32 similarity >= 0.28 on English captions (Schuhmann et al., 2022);
DataComp's CLIP-score baseline kept the top 30% by ViT-L/14 similarity (Gadre et al., 2023);
LAION-Aesthetics v2 published subsets at predicted aesthetic scores of 5, 6 and 6.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdata.filter.registry import NEEDS_AESTHETIC, NEEDS_CLIP, NEEDS_SAFETY, register_filter


@dataclass
class ScoreThresholdConfig:
    min: float | None = None
    top_percent: float | None = None

    def __post_init__(self) -> None:
        if (self.min is None) == (self.top_percent is None):
            raise ValueError("set exactly one of 'min' (absolute threshold) or 'top_percent' (keep the best k%)")
        if self.top_percent is not None and not 0 < self.top_percent <= 100:
            raise ValueError(f"top_percent must be in (0, 100], got {self.top_percent}")

    @property
    def is_global(self) -> bool:
        return self.top_percent is not None


def _below(row: Mapping[str, Any], column: str, config: ScoreThresholdConfig, reason: str) -> str | None:
    if config.is_global:
        return None  # resolved over the whole manifest by the global pass
    value = row.get(column)
    if value is None:
        return f"no_{column}"
    return reason if float(value) < float(config.min) else None  # type: ignore[arg-type]


@register_filter("clip_score", ScoreThresholdConfig, NEEDS_CLIP, score_column="clip_score")
def check_clip_score(row: Mapping[str, Any], config: ScoreThresholdConfig) -> str | None:
    if row.get("clip_score") is None and not config.is_global:
        return "no_text"  # the image always has an embedding; a missing score means no text to compare
    return _below(row, "clip_score", config, "low_clip_score")


@register_filter("aesthetic_score", ScoreThresholdConfig, NEEDS_AESTHETIC, score_column="aesthetic_score")
def check_aesthetic_score(row: Mapping[str, Any], config: ScoreThresholdConfig) -> str | None:
    return _below(row, "aesthetic_score", config, "low_aesthetic_score")


@dataclass
class NsfwConfig:
    # LAION's detector outputs P(unsafe); LAION-5B tagged rows above 0.5 as unsafe, and Stable Diffusion
    # 2 trained only on rows with p_unsafe < 0.1 (its model card). 0.5 is the balanced default.
    max: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.max <= 1.0:
            raise ValueError(f"max is a probability in [0, 1], got {self.max}")


@register_filter("nsfw", NsfwConfig, NEEDS_SAFETY)
def check_nsfw(row: Mapping[str, Any], config: NsfwConfig) -> str | None:
    value = row.get("nsfw_score")
    if value is None:
        return "no_nsfw_score"
    return "nsfw" if float(value) >= config.max else None
