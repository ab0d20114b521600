"""Shared set-up for the model-registry tests.

Presets are built once per session into the session's KCLI_HOME (tests/conftest.py) and reused by every
test; tests that need a fresh home (determinism, atomic rebuilds) point KCLI_HOME at their own tmp_path.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from PIL import Image

# huggingface_hub reads HF_HUB_OFFLINE when it is first imported, so it must be set before any test
# module imports transformers, diffusers or open_clip: anything that tries the Hub fails fast.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def pattern_image() -> Image.Image:
    """A fixed 48 x 40 RGB gradient: different in every pixel, identical in every run."""
    from PIL import Image

    y, x = np.mgrid[0:40, 0:48]
    pixels = np.stack([x * 5, y * 6, (x + y) * 3], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels)
