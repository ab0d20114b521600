"""The prompt set an evaluation reads: JSON Lines of ``{"id", "category", "ko"}`` and, optionally, ``"en"``.

The bundled set (``kdata/bundled/prompts/k-contents-prompts.jsonl``) holds 98 Korean K-contents prompts written
for this project, seven categories of 14 (hanbok, hanok, ink painting, food, festival, landscape,
animation), each with an English translation: the English side feeds the ``english-reference`` pipeline
and the English CLIP score, the Korean side everything else. A set of one's own may be Korean only
(no ``en``, or ``"en": null``): an evaluation then leaves out what needs English (see
:mod:`ktrain.t2i.plan`); an ``en`` that is there must be non-empty text.

An id names the prompt's files (``images/<pipeline>/<id>.png``, ``rows/<pipeline>/<id>.json``) and its
links in ``report.md``, so it must be a plain file name: ASCII letters, digits, ``.``, ``_`` and ``-``,
starting with a letter or digit (no path separator, no ``..``, no hidden file), at most 64 characters,
unique ignoring case. ASCII rather than Hangul because macOS stores file names decomposed (NFD), so two
spellings of one Korean id would share a file; the Korean text belongs in ``ko``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kdata.bundled import bundled_name, bundled_path
from kdata.errors import ConfigError

BUNDLED_PROMPTS = bundled_path("prompts/k-contents-prompts.jsonl")
BUNDLED_PROMPTS_NAME = bundled_name("prompts/k-contents-prompts.jsonl")  # for records: the same in every install
FIELDS = ("id", "category", "ko", "en")
REQUIRED = ("id", "category", "ko")
PROMPT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    ko: str
    en: str | None = None  # None: a Korean-only prompt

    def __post_init__(self) -> None:
        check_prompt_id(self.id)


def check_prompt_id(prompt_id: str, where: str = "prompt") -> None:
    """Refuse an id that is not a plain file name (see the module's docstring), naming ``where``."""
    if not PROMPT_ID.fullmatch(prompt_id):
        shown = prompt_id if len(prompt_id) <= 80 else prompt_id[:80] + "…"
        raise ConfigError(f"{where}: prompt id {shown!r} is not a plain file name: use at most 64 ASCII "
                          "letters, digits, '.', '_' and '-', starting with a letter or digit")


def load_prompts(path: str | Path | None = None, limit: int | None = None) -> list[Prompt]:
    """Every prompt in file order (the first ``limit`` with a limit); a malformed line is a ConfigError naming it."""
    source = Path(path) if path else BUNDLED_PROMPTS
    if not source.is_file():
        raise ConfigError(f"--prompts {source}: no such file")
    prompts: list[Prompt] = []
    seen: dict[str, str] = {}  # lower-case id -> id: case-insensitive file systems would merge the two
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        prompt = _parse_line(line, f"{source}:{number}")
        earlier = seen.get(prompt.id.lower())
        if earlier is not None:
            detail = "appears twice" if earlier == prompt.id else (
                f"differs from {earlier!r} only in case (ids name files, and some file systems ignore case)")
            raise ConfigError(f"{source}:{number}: prompt id {prompt.id!r} {detail}")
        seen[prompt.id.lower()] = prompt.id
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
    missing = [f for f in REQUIRED if not _is_text(record.get(f))]
    if missing:
        raise ConfigError(f"{where}: needs non-empty text fields {', '.join(REQUIRED)} (and en, when given); "
                          f"missing or empty: {', '.join(missing)}")
    english = record.get("en")
    if english is not None and not _is_text(english):
        raise ConfigError(f"{where}: en must be non-empty text when given (leave it out for a Korean-only prompt)")
    check_prompt_id(record["id"].strip(), where)
    return Prompt(*(record[f].strip() for f in REQUIRED), english.strip() if english is not None else None)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def without_english(prompts: list[Prompt]) -> list[Prompt]:
    """The prompts that have no ``en``."""
    return [prompt for prompt in prompts if prompt.en is None]
