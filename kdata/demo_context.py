"""What every ``kcli demo`` step shares: the context it reads and writes, and the result it returns.

A leaf module: it imports no stage, so a step in any package (kdata's stages, ktrain's trainers) can
import it, while the list of steps itself lives above both packages, in :mod:`kcli.demo_steps`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StepResult:
    name: str
    output: Path
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "output": str(self.output), "seconds": round(self.seconds, 2), **self.summary}


@dataclass
class DemoContext:
    """What the steps share: the work directory, each step's result, and the latest manifests.

    An image stage reads ``image_manifest`` and sets it to its output, so steps chain without naming
    each other; the same holds for ``parallel_manifest`` on the text side.
    """

    workdir: Path
    results: dict[str, StepResult] = field(default_factory=dict)
    image_manifest: Path | None = None
    parallel_manifest: Path | None = None
    artifacts: dict[str, Path] = field(default_factory=dict)  # named outputs later steps use (a trained model)

    def path(self, name: str) -> Path:
        return self.workdir / name


StepFn = Callable[[DemoContext], StepResult]
