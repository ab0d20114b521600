"""``deepl``: captions translated by the DeepL API (the service the seed project used), via the ``deepl`` package.

The API key comes from the environment (``DEEPL_AUTH_KEY``), never from the config, so it is not in the
config file, the resolved config or the lineage that kcli writes; every error message is scrubbed of it
before it reaches a row, a log or the terminal. A missing key is a one-line error before any work
starts (and again on a worker that lacks it). The key travels in a request header, so a ``server_url``
in plain ``http://`` is refused unless it names this machine (a local test server).

Texts go in batches of up to 50 per request (the API's limit). An API failure (a refused key, a spent
quota, the server unreachable after the package's own retries with backoff) fails that batch's rows with
the reason in ``caption_<lang>_reason``; after a refused key or a spent quota the remaining batches fail
with the same reason without calling the API again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kdata.caption.backends.base import BACKENDS, Failed
from kdata.caption.backends.translate import TranslatorBackend, check_source
from kdata.deps import require
from kdata.errors import ConfigError
from kdata.textnorm import normalize_text

AUTH_KEY_ENV = "DEEPL_AUTH_KEY"
MAX_TEXTS_PER_REQUEST = 50  # DeepL API: at most 50 texts per translate request
SOURCE_CODES = {"en": "EN", "ko": "KO"}
TARGET_CODES = {"en": "EN-US", "ko": "KO"}  # DeepL refuses a bare "EN" target: EN-US or EN-GB
MODEL_TYPES = ("", "quality_optimized", "prefer_quality_optimized", "latency_optimized")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MAX_REASON_CHARS = 160


@dataclass
class DeeplConfig:
    source: str  # the language translated from: "en" or "ko"
    # "": the package picks api-free.deepl.com for a free key (ending ":fx"), else api.deepl.com.
    server_url: str = ""
    target_code: str | None = None  # e.g. "EN-GB" instead of "EN-US"
    context: str = ""  # guides the translation, not itself translated or billed: "Captions of Korean ink paintings"
    model_type: str = ""  # "": the API's default
    batch_size: int = MAX_TEXTS_PER_REQUEST

    def __post_init__(self) -> None:
        check_source(self.source)
        if not 1 <= self.batch_size <= MAX_TEXTS_PER_REQUEST:
            raise ValueError(f"batch_size must be 1 to {MAX_TEXTS_PER_REQUEST} (DeepL's limit per request), "
                             f"got {self.batch_size}")
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {', '.join(t for t in MODEL_TYPES if t)}, "
                             f"got {self.model_type!r}")
        check_server_url(self.server_url)


def check_server_url(url: str) -> None:
    """``https://HOST``, or ``http://`` to this machine only: the API key travels in a request header."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return
    raise ValueError(f"server_url must be https://HOST (or http:// to 127.0.0.1 for a test server), got {url!r}")


def auth_key() -> str:
    """The key from the environment, or a one-line ConfigError saying how to set it."""
    key = os.environ.get(AUTH_KEY_ENV, "").strip()
    if not key:
        raise ConfigError(f"the deepl backend needs an API key: set {AUTH_KEY_ENV} in the environment "
                          f"(export {AUTH_KEY_ENV}=...; never in a config file)")
    return key


@BACKENDS.register("deepl")
class DeeplBackend(TranslatorBackend):
    config_cls = DeeplConfig

    def __init__(self, config: DeeplConfig, language: str, label: str) -> None:
        super().__init__(config, language, label)
        self.client: Any = None
        self._deepl: Any = None
        self._key = ""
        self._stopped: str | None = None  # the reason every later batch fails with, once the API refused us

    @property
    def model_name(self) -> str:
        return f"deepl:{self.config.model_type}" if self.config.model_type else "deepl"

    def check_environment(self) -> None:
        auth_key()

    def load(self) -> None:
        self._deepl = deepl = require("deepl", "deepl")
        self._key = auth_key()
        self.client = deepl.Translator(self._key, server_url=self.config.server_url or None,
                                       send_platform_info=False)

    def _translate_batch(self, texts: list[str]) -> list[str | Failed]:
        """One request for the batch; a failure is the API's, not one text's, so it fails the whole batch."""
        if self._stopped is not None:
            return [Failed(self._stopped) for _ in texts]
        try:
            return list(self._translate(texts))
        except Exception as exc:  # noqa: BLE001 - any failure becomes the rows' reason, scrubbed of the key
            reason = self._reason(exc)
            if isinstance(exc, (self._deepl.AuthorizationException, self._deepl.QuotaExceededException)):
                self._stopped = reason  # a refused key or a spent quota: every later request would fail alike
            return [Failed(reason) for _ in texts]

    def _translate(self, texts: list[str]) -> list[str]:
        config: DeeplConfig = self.config
        options: dict[str, Any] = {"source_lang": SOURCE_CODES[config.source],
                                   "target_lang": config.target_code or TARGET_CODES[self.language]}
        if config.context:
            options["context"] = config.context
        if config.model_type:
            options["model_type"] = config.model_type
        results = self.client.translate_text(texts, **options)
        if len(results) != len(texts):
            raise RuntimeError(f"DeepL returned {len(results)} translations for {len(texts)} texts")
        return [normalize_text(result.text) for result in results]

    def _reason(self, exc: BaseException) -> str:
        """A short, key-free reason for the rows: what failed and, where known, what to do."""
        status = getattr(exc, "http_status_code", None)
        if isinstance(exc, self._deepl.AuthorizationException):
            message = f"DeepL refused the key (HTTP 403); check {AUTH_KEY_ENV}"
        elif isinstance(exc, self._deepl.QuotaExceededException):
            message = "DeepL quota for this billing period is used up (HTTP 456)"
        elif isinstance(exc, self._deepl.ConnectionException):
            message = f"cannot reach DeepL: {_first_line(exc)}"
        else:
            message = f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}: {_first_line(exc)}"
        message = self._scrub(message)
        return message if len(message) <= _MAX_REASON_CHARS else message[: _MAX_REASON_CHARS - 3] + "..."

    def _scrub(self, text: str) -> str:
        """``text`` with the key (and its part before a ``:fx`` suffix) replaced, wherever it appears."""
        for secret in {self._key, self._key.split(":")[0]}:
            if len(secret) >= 8:
                text = text.replace(secret, "***")
        return text


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
