"""Small corpora built in code for the index tests: prompts in Korean and English, a parallel manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from kdata.manifest import Lineage, Manifest, write_manifest
from kdata.schema import PARALLEL, conform_table

PROMPTS = [
    "한복 입은 여인", "a cat sleeping on a sofa", "산 위의 일출", "cyberpunk city at night, neon lights",
    "수묵화로 그린 소나무", "a bowl of bibimbap on a wooden table", "눈 덮인 한옥 마을", "portrait of an astronaut",
]
PAIRS = [("고양이가 소파에서 잔다", "a cat sleeps on the sofa"), ("바다 위의 노을", "sunset over the sea"),
         ("빨간 자동차", "a red car"), ("숲 속의 오두막", "a cabin in the forest")]


def write_prompts(path: Path, prompts: list[str] = PROMPTS, blank: int = 0) -> Path:
    """A DiffusionDB-like JSONL corpus: ``image_name`` keys and a ``prompt`` column (``blank`` empty prompts)."""
    rows = [{"image_name": f"img-{i:05d}.png", "prompt": p} for i, p in enumerate(prompts)]
    rows += [{"image_name": f"blank-{i}.png", "prompt": ""} for i in range(blank)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parallel(path: Path) -> Manifest:
    rows = [{"key": f"pair-{i}", "ko": ko, "en": en, "source": "unit", "split": "test", "status": "ok",
             "reason": None} for i, (ko, en) in enumerate(PAIRS)]
    table = conform_table(pa.Table.from_pylist(rows), PARALLEL)
    return write_manifest(path, [table], PARALLEL, Lineage(stage="unit", config={}))
