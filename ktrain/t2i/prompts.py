"""The prompt set an evaluation reads: JSON Lines of ``{"id", "category", "ko", "en"}``.

The bundled set (``kdata/bundled/prompts/k-contents-prompts.jsonl``) holds 98 Korean K-contents prompts written
for this project, seven categories of 14 (hanbok, hanok, ink painting, food, festival, landscape,
animation), each with an English translation: the English side feeds the ``english-reference`` pipeline
and the English CLIP score, the Korean side everything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kdata.bundled import bundled_name, bundled_path
from kdata.errors import ConfigError

BUNDLED_PROMPTS = bundled_path("prompts/k-contents-prompts.jsonl")
BUNDLED_PROMPTS_NAME = bundled_name("prompts/k-contents-prompts.jsonl")  # for records: the same in every install
FIELDS = ("id", "category", "ko", "en")


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    ko: str
    en: str


def load_prompts(path: str | Path | None = None, limit: int | None = None) -> list[Prompt]:
    """Every prompt in file order (the first ``limit`` with a limit); a malformed line is a ConfigError naming it."""
    source = Path(path) if path else BUNDLED_PROMPTS
    if not source.is_file():
        raise ConfigError(f"--prompts {source}: no such file")
    prompts: list[Prompt] = []
    seen: set[str] = set()
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        prompt = _parse_line(line, f"{source}:{number}")
        if prompt.id in seen:
            raise ConfigError(f"{source}:{number}: prompt id {prompt.id!r} appears twice")
        seen.add(prompt.id)
        prompts.append(prompt)
    if not prompts:
        raise ConfigError(f"--prompts {source}: no prompts in the file")
    return prompts[:limit] if limit else prompts


def _parse_line(line: str, where: str) -> Prompt:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise ConfigError(f"{where}: not a JSON object ({exc.msg})") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: not a JSON object")
    missing = [f for f in FIELDS if not isinstance(record.get(f), str) or not record[f].strip()]
    if missing:
        raise ConfigError(f"{where}: needs non-empty text fields {', '.join(FIELDS)}; missing or empty: "
                          f"{', '.join(missing)}")
    return Prompt(*(record[f].strip() for f in FIELDS))
