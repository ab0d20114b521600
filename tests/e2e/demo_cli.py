"""``kcli demo`` as a user runs it, in a child process: shared by the end-to-end and the install tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from kcli.demo_steps import STEPS


def run_demo_cli(workdir: Path, cwd: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """The steps ``kcli demo --json`` prints, after checking it exited 0."""
    done = subprocess.run([sys.executable, "-m", "kcli", "demo", "--workdir", str(workdir), "--json"],
                          cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def assert_demo_finished(workdir: Path, steps: list[dict[str, Any]]) -> None:
    """Every step ran, in order, summary.json says so, and each step's output is there."""
    assert [s["step"] for s in steps] == [name for name, _ in STEPS]
    assert json.loads((workdir / "summary.json").read_text(encoding="utf-8")) == steps
    for step in steps:
        assert Path(step["output"]).exists(), step
