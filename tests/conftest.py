"""Shared fixtures. Tests run offline: anything that tries the Hugging Face Hub must fail fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def kcli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One kcli home per test session, so tests never read or write the user's ~/.cache/kcli."""
    home = Path(os.environ.get("KCLI_TEST_HOME") or tmp_path_factory.mktemp("kcli-home"))
    os.environ["KCLI_HOME"] = str(home)
    return home


@pytest.fixture
def sample_manifest(tmp_path: Path):  # noqa: ANN201 - a kdata.manifest.Manifest
    from kdata.samples import write_sample_manifest

    return write_sample_manifest(tmp_path / "samples")
