"""The report server's search endpoint over HTTP, and what ``kcli view --index`` refuses."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kdata.errors import ConfigError
from kdata.index import IndexConfig, build_index
from kdata.report.search import index_search
from kdata.report.serve import ReportServer
from tests.index.corpus import write_prompts


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_search_endpoint_answers_hits_and_refuses_bad_queries(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []

    def search(text: str, k: int) -> dict:
        calls.append((text, k))
        return {"query": text, "hits": [{"key": "a", "score": 0.5}], "embed_ms": 1.0, "search_ms": 0.1}

    server = ReportServer(tmp_path, search=search).start()
    try:
        assert get(server.url + "api/status") == (200, {"search": True})
        status, body = get(server.url + "api/search?q=%ED%95%9C%EB%B3%B5&k=9999")
        assert status == 200 and body["hits"] == [{"key": "a", "score": 0.5}]
        assert calls == [("한복", 500)]  # k is capped
        assert get(server.url + "api/search?q=")[0] == 400
        assert get(server.url + "api/search?q=x&k=many")[0] == 400
    finally:
        server.stop()
    bare = ReportServer(tmp_path).start()
    try:
        assert get(bare.url + "api/status") == (200, {"search": False})
        status, body = get(bare.url + "api/search?q=x")
        assert status == 404 and "kcli view MANIFEST --index INDEX" in body["error"]
    finally:
        bare.stop()


def test_a_prompt_index_is_refused_for_the_report(tmp_path: Path) -> None:
    index = build_index(write_prompts(tmp_path / "p.jsonl"), tmp_path / "idx", IndexConfig())
    with pytest.raises(ConfigError, match="indexes prompts text, not images"):
        index_search(index.path)
