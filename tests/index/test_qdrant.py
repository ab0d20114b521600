"""The Qdrant engine: the code that talks to a server, run in qdrant-client's embedded local mode, and against a
real server when one is installed (qdrant-client does not ship the server binary)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kdata.index import IndexConfig, PromptIndex, build_index
from kdata.index.engines import QdrantEngine
from tests.helpers.net import unused_port
from tests.index.corpus import PROMPTS, write_prompts

NO_SERVER = ("no Qdrant server binary: qdrant-client ships only the client; put the server (github.com/qdrant/"
             "qdrant releases) on PATH as 'qdrant' or set QDRANT_BINARY to run this test")


def test_local_mode_upserts_searches_and_keeps_payloads(tmp_path: Path) -> None:
    engine = QdrantEngine("prompts", 4, path=tmp_path / "q")
    vectors = np.eye(4, dtype=np.float32)
    payloads = [{"key": f"k{i}", "text": f"t{i}", "source": "unit"} for i in range(4)]
    engine.add(np.arange(4), vectors, payloads)
    engine.add(np.arange(4), vectors, payloads)  # a resumed build sends a chunk again: upserts, no duplicates
    assert engine.count() == 4
    ids, scores = engine.search(np.array([0.1, 0.0, 1.0, 0.0], np.float32), 2)
    assert ids.tolist() == [2, 0] and scores[0] == pytest.approx(1 / np.sqrt(1.01), abs=1e-5)
    point = engine.client.retrieve("prompts", [2], with_payload=True)[0]
    assert point.payload == {"key": "k2", "text": "t2", "source": "unit"}


@pytest.fixture
def qdrant_server(tmp_path: Path):  # noqa: ANN201 - yields the server's URL
    binary = os.environ.get("QDRANT_BINARY") or shutil.which("qdrant")
    if not binary:
        print(NO_SERVER)
        pytest.skip(NO_SERVER)
    http, grpc = unused_port(), unused_port()
    env = {**os.environ, "QDRANT__SERVICE__HTTP_PORT": str(http), "QDRANT__SERVICE__GRPC_PORT": str(grpc),
           "QDRANT__SERVICE__HOST": "127.0.0.1", "QDRANT__STORAGE__STORAGE_PATH": str(tmp_path / "storage"),
           "QDRANT__TELEMETRY_DISABLED": "true"}
    server = subprocess.Popen([binary], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_build_and_search_on_a_real_qdrant_server(tmp_path: Path, qdrant_server: str) -> None:
    corpus = write_prompts(tmp_path / "prompts.jsonl")
    result = build_index(corpus, tmp_path / "idx", IndexConfig(qdrant_url=qdrant_server, chunk_size=3))
    assert (result.engine, result.rows) == ("qdrant", len(PROMPTS))
    index = PromptIndex.open(tmp_path / "idx")
    assert index.engine.count() == len(PROMPTS)
    assert index.search(PROMPTS[4], 1).hits[0].text == PROMPTS[4]
