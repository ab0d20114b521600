"""``kcli serve --prompt-index``: ``/api/suggest`` answers the nearest prompts of a real tiny index, within the
query and k limits, hit texts as data; a server without an index answers 404 and its page has no panel."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ktrain.t2i.serve.limits import RequestRejected, ServeLimits
from ktrain.t2i.serve.suggest import MAX_SUGGESTIONS, check_suggest
from tests.t2i.suggest_index import HOSTILE_PROMPT, SUGGEST_PROMPTS, build_prompt_index

LIMITS = ServeLimits(max_prompt_chars=20)


class _Engine:
    lora_names: list[str] = []
    native_size = 64
    size_multiple = 8

    def describe(self) -> dict[str, Any]:
        return {"base": "fake", "text_encoder": "fake", "device": "cpu"}

    def generate(self, job: Any) -> Any:
        raise AssertionError("no render in these tests")


def _get(url: str) -> tuple[int, dict]:
    import json

    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(("query", "k", "message"), [
    ("가" * 21, 5, "The query is 21 characters long; the limit is 20 characters."),
    ("한옥", 0, f"k must be between 1 and {MAX_SUGGESTIONS}; got 0."),
    ("한옥", MAX_SUGGESTIONS + 1, f"k must be between 1 and {MAX_SUGGESTIONS}; got {MAX_SUGGESTIONS + 1}."),
])
def test_check_suggest_refuses_long_queries_and_k_out_of_range(query: str, k: int, message: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        check_suggest(query, k, LIMITS)
    assert str(caught.value) == message


def test_check_suggest_normalises_decomposed_hangul_and_trims() -> None:
    import unicodedata

    assert check_suggest("  " + unicodedata.normalize("NFD", "한옥") + " ", 3, LIMITS) == ("한옥", 3)


@pytest.fixture(scope="module")
def suggest_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ktrain.t2i.serve.app import create_app
    from ktrain.t2i.serve.server import ServerThread
    from ktrain.t2i.serve.suggest import PromptSuggester

    index = build_prompt_index(tmp_path_factory.mktemp("suggest"))
    server = ServerThread(create_app(_Engine(), LIMITS, PromptSuggester.open(index))).start()
    yield server
    server.stop()


def test_suggest_answers_the_nearest_prompts_with_scores_and_times(suggest_server: Any) -> None:
    query = urllib.parse.quote("눈 덮인 한옥 마을")
    status, answer = _get(f"{suggest_server.url}api/suggest?q={query}&k=3")
    assert status == 200, answer
    assert answer["query"] == "눈 덮인 한옥 마을" and answer["rows"] == len(SUGGEST_PROMPTS)
    assert [hit["text"] for hit in answer["hits"]][0] == "눈 덮인 한옥 마을"  # the prompt itself is nearest
    assert len(answer["hits"]) == 3 and set(answer["hits"][0]) == {"text", "score", "key"}
    scores = [hit["score"] for hit in answer["hits"]]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0, abs=1e-3)
    assert answer["search_ms"] >= 0 and answer["embed_ms"] > 0


def test_suggest_returns_hostile_corpus_text_verbatim_as_json(suggest_server: Any) -> None:
    status, answer = _get(f"{suggest_server.url}api/suggest?q={urllib.parse.quote(HOSTILE_PROMPT[:20])}"
                          f"&k={MAX_SUGGESTIONS}")
    assert status == 200
    assert HOSTILE_PROMPT in [hit["text"] for hit in answer["hits"]]  # k above the corpus size: every row
    assert len(answer["hits"]) == len(SUGGEST_PROMPTS)


def test_suggest_refuses_out_of_limit_requests_and_answers_empty_queries(suggest_server: Any) -> None:
    url = f"{suggest_server.url}api/suggest"
    assert _get(f"{url}?q={urllib.parse.quote('가' * 21)}") == (
        400, {"error": "The query is 21 characters long; the limit is 20 characters."})
    assert _get(f"{url}?q=a&k=11") == (400, {"error": f"k must be between 1 and {MAX_SUGGESTIONS}; got 11."})
    assert _get(f"{url}?q=a&k=many")[0] == 400
    assert _get(f"{url}?q=%20%20") == (200, {"query": "", "hits": [], "embed_ms": 0.0, "search_ms": 0.0})
    status, config = _get(f"{suggest_server.url}api/config")
    assert config["features"]["suggest"] is True and config["limits"]["max_suggestions"] == MAX_SUGGESTIONS
    assert config["prompt_index"]["rows"] == len(SUGGEST_PROMPTS)


def test_a_server_without_an_index_answers_404_and_says_so_in_its_config() -> None:
    from ktrain.t2i.serve.app import create_app
    from ktrain.t2i.serve.server import ServerThread

    server = ServerThread(create_app(_Engine(), LIMITS)).start()
    try:
        assert _get(f"{server.url}api/suggest?q=a") == (
            404, {"error": "This server has no prompt index (start it with --prompt-index INDEX)."})
        status, config = _get(f"{server.url}api/config")
        assert config["features"]["suggest"] is False and config["prompt_index"] is None
    finally:
        server.stop()


def test_a_missing_index_is_refused_in_one_line(tmp_path: Path) -> None:
    from kdata.errors import ConfigError
    from ktrain.t2i.serve.suggest import PromptSuggester

    with pytest.raises(ConfigError, match="is not a finished index"):
        PromptSuggester.open(tmp_path / "nowhere")
