"""``kcli index`` as a user runs it: --json, a killed build that resumes, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kdata.index import IndexConfig, PromptIndex, build_index
from tests.helpers.cli import kcli, kcli_popen
from tests.helpers.kill import kill_when
from tests.index.corpus import PROMPTS, write_prompts

MANY = [f"{p} #{i}" for i in range(40) for p in PROMPTS]  # 320 prompts, 64 chunks of 5


def chunks(root: Path) -> list[Path]:
    return sorted((root / "chunks").glob("*.parquet"))


@pytest.mark.slow  # three runs of the command line, each loading torch and a model
def test_killed_build_resumes_and_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    corpus = write_prompts(tmp_path / "prompts.jsonl", MANY)
    out = tmp_path / "idx"
    process = kcli_popen("index", "build", str(corpus), "--out", str(out), "--chunk-size", "5", "--batch-size", "5",
                         "--json", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = kill_when(process, lambda: len(chunks(out)), 3, timeout=300)
    assert 3 <= done < len(MANY) // 5 and not (out / "index.json").exists()
    (out / "chunks" / ".000099.parquet.tmp-1-abc").write_bytes(b"half a chunk")  # as a kill mid-write leaves

    resumed = kcli("index", "build", str(corpus), "--out", str(out), "--chunk-size", "5", "--batch-size", "5", "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert (result["rows"], result["chunks"], result["chunks_resumed"]) == (len(MANY), len(MANY) // 5, done)

    reference = build_index(corpus, tmp_path / "ref", IndexConfig(chunk_size=5, batch_size=5))
    assert not list((out / "chunks").glob(".*"))
    for ours, theirs in zip(chunks(out), chunks(reference.path), strict=True):
        assert pq.read_table(ours).equals(pq.read_table(theirs))
    found = json.loads(kcli("index", "search", str(out), MANY[17], "-k", "2", "--json").stdout)
    assert found[0]["hits"][0]["text"] == MANY[17]
    assert found[0]["search_ms"] >= 0 and found[0]["engine"] == "faiss"
    assert PromptIndex.open(out).search(MANY[200], 1).hits[0].key == "img-00200.png"


def test_errors_are_one_line(tmp_path: Path) -> None:
    missing = kcli("index", "search", str(tmp_path / "none"), "한복")
    assert missing.returncode != 0
    assert missing.stderr.strip().startswith("error:") and len(missing.stderr.strip().splitlines()) == 1
    bad = kcli("index", "build", str(write_prompts(tmp_path / "p.jsonl")), "--out", str(tmp_path / "i"),
               "--embedder", "nope")
    assert bad.returncode != 0 and "valid names: clip, ko-encoder, mean-pool" in bad.stderr
