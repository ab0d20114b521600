"""Training metrics as JSON lines, one object per logged step, written by the main process only.

On resume the lines after the resumed step are dropped first, so a resumed run's metrics file reads
exactly like an uninterrupted run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """``metrics.jsonl``, and the run's experiment trackers when ``accelerator`` has any (ktrain.trackers)."""

    def __init__(self, path: Path, enabled: bool = True, accelerator: Any = None) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self.accelerator = accelerator if accelerator is not None and accelerator.trackers else None

    def truncate_after(self, step: int) -> None:
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line in self.read() if int(line.get("step", 0)) <= step]
        self.path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")

    def log(self, step: int, **values: Any) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"step": step, **{k: _plain(v) for k, v in values.items()}}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        if self.accelerator is not None:
            from ktrain.trackers import numeric

            self.accelerator.log(numeric({k: v for k, v in record.items() if k != "step"}), step=step)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value
