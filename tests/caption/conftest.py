"""Fixtures for the caption tests: an ink-painting manifest (its rows come from tests/caption/rows.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdata.manifest import Manifest
from tests.caption.rows import ink_rows
from tests.helpers.manifests import write_rows


@pytest.fixture
def ink_manifest(tmp_path: Path) -> Manifest:
    return write_rows(tmp_path / "ink", ink_rows())
