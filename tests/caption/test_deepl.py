"""``deepl``: batches against a local fake of the API, the key only from the environment and never written,
API failures as per-row reasons, a missing key refused before any work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kdata.caption.backends.base import RowItem
from kdata.caption.backends.deepl_api import AUTH_KEY_ENV, DeeplBackend, DeeplConfig
from kdata.caption.config import caption_config_from_dict
from kdata.caption.stage import prepare_caption, run_caption
from kdata.errors import ConfigError
from kdata.manifest import open_manifest
from tests.caption.fake_deepl import KEY, FakeDeepl, serve_deepl
from tests.caption.rows import image_row, ink_rows
from tests.helpers.cli import kcli
from tests.helpers.manifests import write_rows

KOREAN = ["한복을 입은 여인", "매화를 그린 수묵화", "기와지붕 위의 눈", "단오의 그네", "비빔밥 한 그릇"]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDeepl]:
    monkeypatch.setenv(AUTH_KEY_ENV, KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with serve_deepl() as server:
        yield server


def _backend(fake: FakeDeepl, language: str = "en", **settings: Any) -> DeeplBackend:
    source = "ko" if language == "en" else "en"
    config = DeeplConfig(source=source, server_url=fake.url, **settings)
    backend = DeeplBackend(config, language, f"{language}[1]:deepl")
    backend.load()
    return backend


def _items(texts: list[str], language: str = "ko") -> list[RowItem]:
    return [RowItem({"key": str(i)}, source_texts={language: text}) for i, text in enumerate(texts)]


def test_rows_go_in_batches_with_the_codes_and_context(fake: FakeDeepl) -> None:
    backend = _backend(fake, batch_size=2, context="Captions of Korean paintings")
    out = backend.run([*_items(KOREAN[:2]), RowItem({"key": "none"}), *_items(KOREAN[2:])])
    assert out[2] == []  # nothing to translate from
    assert [(c.text, c.source, c.model, c.backend) for cands in out for c in cands] == [
        (f"EN-US: {text}", "translation", "deepl", "en[1]:deepl") for text in KOREAN]
    assert [r["text"] for r in fake.requests] == [KOREAN[0:2], KOREAN[2:4], KOREAN[4:]]
    assert {(r["source_lang"], r["target_lang"], r["context"]) for r in fake.requests} == {
        ("KO", "EN-US", "Captions of Korean paintings")}
    assert set(fake.auth_headers) == {f"DeepL-Auth-Key {KEY}"}

    to_korean = _backend(fake, language="ko", target_code="KO", model_type="quality_optimized")
    [[candidate]] = to_korean.run(_items(["a hanok in the snow"], "en"))
    assert (candidate.text, candidate.model) == ("KO: a hanok in the snow", "deepl:quality_optimized")
    assert (fake.requests[-1]["source_lang"], fake.requests[-1]["model_type"]) == ("EN", "quality_optimized")


def test_a_refused_key_fails_every_row_with_one_call(fake: FakeDeepl, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTH_KEY_ENV, "wrong-key-abcdef0123456789")
    backend = _backend(fake, batch_size=2)
    out = backend.run(_items(KOREAN))
    assert [c.error for cands in out for c in cands] == [f"DeepL refused the key (HTTP 403); check {AUTH_KEY_ENV}"] * 5
    assert len(fake.requests) == 1  # the key will not work for later batches either


def test_a_spent_quota_and_a_bad_request_are_row_reasons_without_the_key(fake: FakeDeepl) -> None:
    backend = _backend(fake, batch_size=2)
    out = backend.run(_items(["FAIL here", KOREAN[0], KOREAN[1]]))
    bad_request = out[0][0].error
    assert out[1][0].error == bad_request and out[2][0].text == f"EN-US: {KOREAN[1]}"  # only that batch failed
    assert bad_request.startswith("DeepLException (HTTP 400): Bad request, message: Value for 'text' not supported")
    assert KEY not in bad_request and KEY.split(":")[0] not in bad_request and "***" in bad_request
    fake.quota_spent = True
    out = backend.run(_items(KOREAN))
    assert {c.error for cands in out for c in cands} == {"DeepL quota for this billing period is used up (HTTP 456)"}


def test_an_unreachable_server_is_a_row_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import deepl

    monkeypatch.setenv(AUTH_KEY_ENV, KEY)
    monkeypatch.setattr(deepl.http_client, "max_network_retries", 0)  # the package retries with backoff otherwise
    with serve_deepl() as fake:
        url = fake.url  # a port nothing listens on once the server has closed
    backend = DeeplBackend(DeeplConfig(source="ko", server_url=url), "en", "en[1]:deepl")
    backend.load()
    [[candidate]] = backend.run(_items(KOREAN[:1]))
    assert candidate.error is not None and candidate.error.startswith("cannot reach DeepL: ")


def test_the_caption_stage_never_writes_the_key(fake: FakeDeepl, tmp_path: Path) -> None:
    chains = {"ko": [{"backend": "template", "template": "{paper_type}에 {method}으로 그린 수묵화"}],
              "en": [{"backend": "template", "template": "{caption_en}"},
                     {"backend": "deepl", "source": "ko", "server_url": fake.url}]}
    manifest = write_rows(tmp_path / "in", ink_rows())
    result = run_caption(manifest.path, caption_config_from_dict(chains), tmp_path / "out")
    rows = {row["key"]: row for row in open_manifest(tmp_path / "out").read_table().to_pylist()}
    translated = rows["ink-2"]
    assert (translated["caption_en"], translated["caption_en_source"], translated["caption_en_model"]) == (
        "EN-US: 순지에 몰골법으로 그린 수묵화", "translation", "deepl")
    assert result.stats["caption_en/translation"] == 1
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert written and not [path for path in written if KEY.split(":")[0].encode() in path.read_bytes()]
    assert fake.url in json.dumps(open_manifest(tmp_path / "out").lineage_chain, default=str)  # the config is recorded


def test_a_missing_key_is_a_one_line_error_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = write_rows(tmp_path / "in", [image_row("a", caption_ko="한옥")])
    config = tmp_path / "caption.toml"
    config.write_text('[[ko]]\nbackend = "template"\ntemplate = "{caption_ko}"\n\n'
                      '[[en]]\nbackend = "deepl"\nsource = "ko"\n', encoding="utf-8")
    monkeypatch.delenv(AUTH_KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"the deepl backend needs an API key: set {AUTH_KEY_ENV}"):
        prepare_caption(manifest.path, config)
    done = kcli("caption", str(manifest.path), "--config", str(config), "--out", str(tmp_path / "out"),
                unset=[AUTH_KEY_ENV])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: the deepl backend needs an API key: set {AUTH_KEY_ENV} in the environment "
        f"(export {AUTH_KEY_ENV}=...; never in a config file)"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"server_url": "http://api.example.org"}, "server_url must be https://HOST (or http:// to 127.0.0.1"),
        ({"server_url": "ftp://127.0.0.1"}, "server_url must be https://HOST"),
        ({"batch_size": 51}, "batch_size must be 1 to 50 (DeepL's limit per request), got 51"),
        ({"model_type": "fast"}, "model_type must be one of quality_optimized, prefer_quality_optimized"),
        ({"auth_key": KEY}, "auth_key"),  # a key has no place in a config file
        ({"source": "ja"}, "source must be 'en' or 'ko', got 'ja'"),
    ],
)
def test_bad_settings_are_one_line_config_errors(table: dict, message: str) -> None:
    chains = {"ko": [{"backend": "alt_text"}], "en": [{"backend": "deepl", "source": "ko", **table}]}
    with pytest.raises(ConfigError, match="cfg: en\\[0\\]:deepl") as raised:
        caption_config_from_dict(chains, where="cfg")
    assert message in str(raised.value) and "\n" not in str(raised.value)
