"""Image quality metrics and the filters over them.

One decode gives every metric: size and aspect ratio, sharpness as the variance of the Laplacian of a
downscaled grey image (Pech-Pacheco et al., 2000; the common OpenCV 4-neighbour kernel), exposure as the
5th and 95th luma percentiles, information as the Shannon entropy of the grey histogram, and a grayscale
flag from the mean spread between colour channels. The same decode also yields the identity columns
dedup needs (sha256 of the decoded pixels, pHash, a tiny colour signature).

Thresholds are kcli defaults calibrated on the bundled samples (see ``kdata/filter/default.toml``);
audit them with the report's histograms before trusting them on other data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from kdata.filter.crop_hash import crop_hashes
from kdata.filter.phash import phash
from kdata.filter.registry import NEEDS_IMAGE, register_filter

# Metrics are measured on a copy no larger than this, so they do not depend on the upload size and
# cost the same for a 256 px thumbnail and a 6000 px original.
METRIC_SIDE = 256
GRAYSCALE_MAX_SPREAD = 2.0  # mean |R-G|,|G-B|,|B-R| below this: no visible colour (JPEG noise stays < 1)
COLOR_SIG_SIDE = 4  # a 4x4 RGB thumbnail: cheap evidence that two hash-equal images share their colours

QUALITY_FIELDS = pa.schema(
    [
        pa.field("aspect_ratio", pa.float32()),
        pa.field("blur_variance", pa.float32()),
        pa.field("luma_p05", pa.float32()),
        pa.field("luma_p95", pa.float32()),
        pa.field("entropy_bits", pa.float32()),
        pa.field("colorfulness", pa.float32()),
        pa.field("is_grayscale", pa.bool_()),
        pa.field("pixel_sha256", pa.string()),
        pa.field("phash", pa.string()),
        pa.field("color_sig", pa.string()),
        pa.field("phash_crops", pa.string()),  # kdata.filter.crop_hash: crop- and border-tolerant pHashes
    ]
)
# The columns each part of measure_image fills; the score stage asks only for what its rules and dedup use.
METRIC_COLUMNS = ("aspect_ratio", "blur_variance", "luma_p05", "luma_p95", "entropy_bits", "colorfulness",
                  "is_grayscale")
IDENTITY_COLUMNS = ("pixel_sha256", "phash", "color_sig", "phash_crops")


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: low when an image has few sharp edges (blur)."""
    g = grey.astype(np.float64)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var()) if lap.size else 0.0


def entropy_bits(grey: np.ndarray) -> float:
    """Shannon entropy of the 256-bin grey histogram: 0 for one flat colour, at most 8 bits."""
    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / grey.size
    return float(-(p * np.log2(p)).sum())


def measure_image(image: Image.Image, metrics: bool = True, identity: bool = True) -> dict[str, Any]:
    """Size, plus the quality metrics and/or the identity columns (dedup) of one decoded image."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    values: dict[str, Any] = {"width": width, "height": height}
    if not (metrics or identity):
        return values
    small = rgb.copy()
    small.thumbnail((METRIC_SIDE, METRIC_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if metrics:
        values.update(_metrics(small, width, height))
    if identity:
        values.update(_identity(rgb, small, width, height))
    return values


def _metrics(small: Image.Image, width: int, height: int) -> dict[str, Any]:
    grey = np.asarray(small.convert("L"))
    channels = np.asarray(small, dtype=np.int16)
    spread = (
        np.abs(channels[..., 0] - channels[..., 1])
        + np.abs(channels[..., 1] - channels[..., 2])
        + np.abs(channels[..., 2] - channels[..., 0])
    ).mean() / 3.0
    p05, p95 = np.percentile(grey, [5, 95])
    return {
        "aspect_ratio": max(width, height) / max(1, min(width, height)),
        "blur_variance": laplacian_variance(grey),
        "luma_p05": float(p05),
        "luma_p95": float(p95),
        "entropy_bits": entropy_bits(grey),
        "colorfulness": float(spread),
        "is_grayscale": bool(spread < GRAYSCALE_MAX_SPREAD),
    }


def _identity(rgb: Image.Image, small: Image.Image, width: int, height: int) -> dict[str, Any]:
    return {
        "pixel_sha256": hashlib.sha256(f"{width}x{height}:".encode() + rgb.tobytes()).hexdigest(),
        "phash": phash(rgb),
        "color_sig": rgb.resize((COLOR_SIG_SIDE, COLOR_SIG_SIDE), Image.Resampling.BOX).tobytes().hex(),
        "phash_crops": ",".join(crop_hashes(small)),
    }


def color_distance(a: str, b: str) -> float:
    """Mean absolute difference (0-255) between two colour signatures."""
    x = np.frombuffer(bytes.fromhex(a), dtype=np.uint8).astype(np.int16)
    y = np.frombuffer(bytes.fromhex(b), dtype=np.uint8).astype(np.int16)
    return float(np.abs(x - y).mean())


def _value(row: Mapping[str, Any], column: str) -> float | None:
    value = row.get(column)
    return None if value is None else float(value)


@dataclass
class MinSideConfig:
    min: int = 128

    def __post_init__(self) -> None:
        if self.min < 1:
            raise ValueError(f"min must be at least 1 pixel, got {self.min}")


@register_filter("min_side", MinSideConfig, NEEDS_IMAGE)
def check_min_side(row: Mapping[str, Any], config: MinSideConfig) -> str | None:
    width, height = row.get("width"), row.get("height")
    if width is None or height is None:
        return "no_size"
    return "too_small" if min(width, height) < config.min else None


@dataclass
class AspectRatioConfig:
    max: float = 3.0

    def __post_init__(self) -> None:
        if self.max < 1:
            raise ValueError(f"max is long side / short side, so at least 1.0; got {self.max}")


@register_filter("aspect_ratio", AspectRatioConfig, NEEDS_IMAGE)
def check_aspect_ratio(row: Mapping[str, Any], config: AspectRatioConfig) -> str | None:
    ratio = _value(row, "aspect_ratio")
    return "bad_aspect_ratio" if ratio is None or ratio > config.max else None


@dataclass
class BlurConfig:
    min_variance: float = 40.0


@register_filter("blur", BlurConfig, NEEDS_IMAGE)
def check_blur(row: Mapping[str, Any], config: BlurConfig) -> str | None:
    variance = _value(row, "blur_variance")
    return "blur" if variance is None or variance < config.min_variance else None


@dataclass
class TooDarkConfig:
    max_p95: float = 25.0  # 95% of pixels darker than this (of 255): an almost black frame


@register_filter("too_dark", TooDarkConfig, NEEDS_IMAGE)
def check_too_dark(row: Mapping[str, Any], config: TooDarkConfig) -> str | None:
    p95 = _value(row, "luma_p95")
    return "too_dark" if p95 is None or p95 < config.max_p95 else None


@dataclass
class TooLightConfig:
    min_p05: float = 230.0  # 95% of pixels lighter than this (of 255): blank or washed out


@register_filter("too_light", TooLightConfig, NEEDS_IMAGE)
def check_too_light(row: Mapping[str, Any], config: TooLightConfig) -> str | None:
    p05 = _value(row, "luma_p05")
    return "too_light" if p05 is None or p05 > config.min_p05 else None


@dataclass
class LowInformationConfig:
    min_bits: float = 1.5


@register_filter("low_information", LowInformationConfig, NEEDS_IMAGE)
def check_low_information(row: Mapping[str, Any], config: LowInformationConfig) -> str | None:
    bits = _value(row, "entropy_bits")
    return "low_information" if bits is None or bits < config.min_bits else None


@dataclass
class GrayscaleConfig:
    max_colorfulness: float = GRAYSCALE_MAX_SPREAD


@register_filter("grayscale", GrayscaleConfig, NEEDS_IMAGE)
def check_grayscale(row: Mapping[str, Any], config: GrayscaleConfig) -> str | None:
    spread = _value(row, "colorfulness")
    return "grayscale" if spread is None or spread < config.max_colorfulness else None
