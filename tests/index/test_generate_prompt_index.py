"""``kcli generate --prompt-index``: each prompt comes back with its nearest corpus prompts and the search time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdata.index import IndexConfig, build_index
from tests.helpers.cli import kcli
from tests.index.corpus import PROMPTS, write_prompts


@pytest.mark.slow  # a subprocess that loads torch, tiny SD and a CLIP text tower
def test_generate_shows_the_nearest_corpus_prompts(tmp_path: Path) -> None:
    index = build_index(write_prompts(tmp_path / "p.jsonl"), tmp_path / "idx", IndexConfig())
    done = kcli("generate", PROMPTS[6], "--base", "tiny-sd", "--out", str(tmp_path / "images"), "--steps", "2",
                "--prompt-index", str(index.path), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    similar = json.loads(done.stdout)[0]["similar_prompts"]
    assert len(similar["hits"]) == 3 and similar["hits"][0]["text"] == PROMPTS[6]
    assert similar["search_ms"] >= 0
