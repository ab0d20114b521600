"""Quality metrics and filters on generated images: exact reasons, and the ink-painting scope."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from kdata.filter.config import parse_filter_config, parse_rules
from kdata.filter.quality import measure_image
from kdata.filter.registry import FILTERS
from kdata.filter.run import run_filter
from kdata.filter.stage import apply_rules
from tests.filter.images import blurred, decisions, encode, ink_painting, row, scene
from tests.helpers.manifests import write_rows

QUALITY_RULES = [
    {"filter": "min_side", "min": 64},
    {"filter": "aspect_ratio", "max": 3.0},
    {"filter": "blur", "min_variance": 40.0},
    {"filter": "too_dark", "max_p95": 25.0},
    {"filter": "too_light", "min_p05": 230.0},
    {"filter": "low_information", "min_bits": 1.5},
    {"filter": "grayscale"},
]


def _rules(*scoped: str) -> list:
    items = [dict(r) for r in QUALITY_RULES]
    for item in items:
        if item["filter"] in scoped:
            item["unless"] = {"category": "ink_painting"}
    return [(r, FILTERS.get(r.filter)) for r in parse_rules(items)]


CASES = {
    "sharp": (scene(), None, []),
    "blurred": (blurred(scene()), "blur", ["blur"]),
    "tiny": (scene((48, 48)), "too_small", ["min_side"]),
    "banner": (scene((400, 100)), "bad_aspect_ratio", ["aspect_ratio"]),
    "dark": (Image.new("RGB", (120, 120), (8, 10, 12)), "blur", ["blur", "too_dark", "low_information"]),
    "grey": (scene().convert("L").convert("RGB"), "grayscale", ["grayscale"]),
    "ink": (ink_painting(), "too_light", ["too_light", "low_information", "grayscale"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_quality_rule_gives_its_exact_reason(name: str) -> None:
    image, reason, failed = CASES[name]
    values = measure_image(image)
    assert apply_rules({**values, "category": "photo"}, _rules()) == (reason, failed)


def test_metrics_are_measured_on_the_decoded_pixels() -> None:
    values = measure_image(scene((192, 160)))
    assert (values["width"], values["height"], values["aspect_ratio"]) == (192, 160, 1.2)
    assert values["is_grayscale"] is False and measure_image(ink_painting())["is_grayscale"] is True
    assert len(values["phash"]) == 16 and len(values["color_sig"]) == 96 and len(values["pixel_sha256"]) == 64
    assert measure_image(blurred(scene()))["blur_variance"] < 40 < values["blur_variance"]


def test_ink_painting_scope_exempts_what_the_unscoped_rules_reject() -> None:
    values = {**measure_image(ink_painting()), "category": "ink_painting"}
    assert apply_rules(values, _rules()) == ("too_light", ["too_light", "low_information", "grayscale"])
    scoped = _rules("too_light", "low_information", "grayscale")
    assert apply_rules(values, scoped) == (None, [])
    # The scope is by column value: the same picture in another category is still rejected.
    assert apply_rules({**values, "category": "photo"}, scoped)[0] == "too_light"


def test_scoped_config_keeps_ink_paintings_end_to_end(tmp_path: Path) -> None:
    rows = [row("ink", encode(ink_painting()), category="ink_painting"),
            row("ink-photo", encode(ink_painting().rotate(180)), category="photo"),
            row("sharp", encode(scene()), category="photo"),
            row("blurry", encode(blurred(scene(seed=3))), category="photo")]
    source = write_rows(tmp_path / "in", rows)
    scoped = [dict(r, unless={"category": "ink_painting"}) if r["filter"] in ("too_light", "low_information",
                                                                               "grayscale") else r
              for r in QUALITY_RULES]
    for name, rules in (("unscoped", QUALITY_RULES), ("scoped", scoped)):
        run_filter(source.path, parse_filter_config({"rules": rules}), tmp_path / name, report=False)
    assert decisions(tmp_path / "unscoped") == {"ink": ("rejected", "too_light"),
                                                "ink-photo": ("rejected", "too_light"),
                                                "sharp": ("ok", None), "blurry": ("rejected", "blur")}
    assert decisions(tmp_path / "scoped")["ink"] == ("ok", None)
    assert decisions(tmp_path / "scoped")["ink-photo"] == ("rejected", "too_light")


def test_undecodable_and_missing_bytes_become_failed_rows(tmp_path: Path) -> None:
    good = encode(scene())
    rows = [row("ok", good), row("truncated", good[:100]), row("nobytes", b"x", image_bytes=None)]
    rows[2]["image_bytes"] = None
    source = write_rows(tmp_path / "in", rows)
    run_filter(source.path, parse_filter_config({}), tmp_path / "out", report=False)
    assert decisions(tmp_path / "out") == {"ok": ("ok", None), "truncated": ("failed", "undecodable:OSError"),
                                           "nobytes": ("failed", "missing_bytes")}
