"""``kcli eval retrieval``: R@k from exact ranks, both directions, files written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kdata.errors import ConfigError
from kdata.index.retrieval import evaluate_retrieval, ranks, recall
from tests.helpers.cli import kcli
from tests.index.corpus import PAIRS, write_parallel


def test_ranks_and_recall_by_hand() -> None:
    similarity = np.array([[0.9, 0.1, 0.0], [0.8, 0.5, 0.7], [0.2, 0.3, 0.1]])
    assert ranks(similarity).tolist() == [1, 3, 3]
    assert ranks(similarity.T).tolist() == [1, 1, 2]
    assert recall(np.array([1, 3, 2, 12])) == {"R@1": 0.25, "R@5": 0.75, "R@10": 0.75}


def test_one_encoder_both_sides_scores_and_writes_files(tmp_path: Path) -> None:
    manifest = write_parallel(tmp_path / "pairs")
    result = evaluate_retrieval(manifest.path, ("clip", "hf:tiny-clip", ""), split="test", out=tmp_path / "eval")
    assert result.pairs == len(PAIRS)
    assert set(result.ko_to_en) == {"R@1", "R@5", "R@10"} and result.ko_to_en["R@5"] == 1.0  # 4 pairs: all in top 5
    with open(tmp_path / "eval" / "retrieval.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["key"] for r in rows] == [f"pair-{i}" for i in range(len(PAIRS))]
    assert result.ko_to_en["R@1"] == sum(r["ko_to_en_rank"] == "1" for r in rows) / len(rows)
    saved = json.loads((tmp_path / "eval" / "retrieval.json").read_text(encoding="utf-8"))
    assert saved["en_to_ko"] == result.en_to_ko
    with pytest.raises(ConfigError, match="no ok pairs in split 'train'"):
        evaluate_retrieval(manifest.path, ("clip", "hf:tiny-clip", ""), split="train")


@pytest.mark.slow  # the command line loads torch and a model in a subprocess
def test_cli_json(tmp_path: Path) -> None:
    manifest = write_parallel(tmp_path / "pairs")
    run = kcli("eval", "retrieval", str(manifest.path), "--encoder", "hf:tiny-clip", "--embedder", "clip", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["pairs"] == len(PAIRS)
