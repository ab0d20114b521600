"""The codebase stays lint-clean (ruff, configured in pyproject.toml)."""

from __future__ import annotations

from tests.helpers.cli import python


def test_ruff_finds_nothing() -> None:
    done = python("-m", "ruff", "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr
