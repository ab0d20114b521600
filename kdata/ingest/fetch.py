"""The downloader: one polite, bounded HTTP GET per URL, safe to call from many threads.

Built on urllib3 (the connection pool under ``requests``; already a dependency of the project through
it). It is used directly because the fetcher needs three things ``requests`` hides: the response
headers before any body byte is read (the ``X-Robots-Tag`` opt-out and ``Content-Length`` are decided
there), connections to exactly the addresses the network guard checked (:mod:`kdata.ingest.pinning`),
and thread-safe keep-alive pools shared by every thread of a worker.

Policy, each bounded: redirects, followed here and not by urllib3, so that every hop is parsed, resolved
and checked by the network guard before its request; retries with jittered exponential backoff on
429/5xx and connection errors (``Retry-After`` honoured up to a cap), connect and read timeouts plus a whole-body
deadline (a server that drips one byte a second never trips a read timeout), a maximum size (checked on
``Content-Length`` and while reading), and a per-host concurrency limit.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from kdata import __version__
from kdata.config import AtLeastOne, NonNegativeFloat, NonNegativeInt, PositiveFloat
from kdata.ingest.guard import BlockedUrl, HostNotFound, Target, check_url
from kdata.ingest.pinning import PinnedPools
from kdata.ingest.robots import optout_directive

DEFAULT_USER_AGENT = (
    f"kcli/{__version__} (image dataset ingest; honours X-Robots-Tag noai and noimageai; "
    "token: kcli)"
)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
CHUNK = 64 * 1024


@dataclass
class FetchConfig:
    user_agent: str = DEFAULT_USER_AGENT
    user_agent_token: str = "kcli"  # X-Robots-Tag directives scoped to this token apply to kcli
    optout_directives: list[str] = field(default_factory=lambda: ["noai", "noimageai"])
    connect_timeout: PositiveFloat = 5.0
    read_timeout: PositiveFloat = 10.0
    body_timeout: PositiveFloat = 30.0  # the whole body must arrive within this many seconds
    max_bytes: AtLeastOne = 20 * 1024 * 1024
    max_redirects: NonNegativeInt = 5
    retries: NonNegativeInt = 2  # extra attempts after a 429/5xx/connection error
    backoff: NonNegativeFloat = 0.5  # the first retry waits up to this many seconds, the bound doubling after each
    max_backoff: NonNegativeFloat = 20.0  # the bound stops doubling here
    max_retry_after: NonNegativeFloat = 30.0  # a longer Retry-After is not waited for (the row fails, retryable)
    per_host: AtLeastOne = 8  # concurrent requests to one host, per worker process
    allow_private: bool = False


@dataclass
class Fetched:
    """The outcome of one URL: bytes, or a reason; ``retryable`` failures are worth another run."""

    url: str
    data: bytes | None = None
    reason: str | None = None
    rejected: bool = False  # a policy decision (opt-out, blocked address), not a failure
    retryable: bool = False
    http_status: int | None = None
    final_url: str | None = None
    attempts: int = 0


class FetchFailure(Exception):
    """A failed request; ``retry_after`` is the server's requested wait, when it sent one."""

    def __init__(self, reason: str, retryable: bool = False, http_status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retryable, self.http_status, self.retry_after = reason, retryable, http_status, retry_after


class Fetcher:
    """Fetches URLs with :class:`FetchConfig`'s policy; one instance is shared by a worker's threads."""

    def __init__(self, config: FetchConfig, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self._sleep = sleep
        # One generator shared by the worker's threads: each draw differs, so threads that met the same
        # 429 together come back apart. Seeded in tests; random.Random's draws are atomic under the GIL.
        self._rng = rng or random.Random()
        timeout = urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout)
        self._pools = PinnedPools(num_pools=64, maxsize=max(config.per_host, 1), timeout=timeout,
                                  headers={"User-Agent": config.user_agent})
        self._host_limits: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pools.clear()

    def fetch(self, url: str) -> Fetched:
        result = Fetched(url)
        for attempt in range(self.config.retries + 1):
            result.attempts = attempt + 1
            try:
                result.data, result.final_url, result.http_status = self._get_following_redirects(url)
                result.reason = None
                return result
            except BlockedUrl as blocked:
                result.reason, result.rejected = str(blocked), True
                return result
            except ValueError:  # urllib's parsers reject malformed URLs (bad IPv6 literal, port out of range)
                result.reason = "invalid_url"
                return result
            except FetchFailure as failure:
                result.reason, result.retryable = failure.reason, failure.retryable
                result.http_status = failure.http_status
                delay = backoff_delay(attempt, self.config.backoff, self.config.max_backoff, failure.retry_after,
                                      self._rng)
                # A Retry-After beyond the cap is not waited for now: the row stays retryable for a later run.
                # Nor is a name that does not resolve: dead domains are common in web-scale URL lists, and
                # backing off on each would stall a thread for seconds; a later run tries it again.
                if (not failure.retryable or attempt == self.config.retries or delay > self.config.max_retry_after
                        or failure.reason == "dns_error"):
                    return result
                self._sleep(delay)
        return result

    def _get_following_redirects(self, url: str) -> tuple[bytes, str, int]:
        current = url
        for _ in range(self.config.max_redirects + 1):
            try:  # parse, resolve once and check: the request goes to exactly these addresses
                target = check_url(current, self.config.allow_private)
            except HostNotFound as missing:
                raise FetchFailure(str(missing), retryable=True) from None
            with self._host_slot(target.host):
                location, payload = self._get_once(target)
            if location is None:
                assert payload is not None
                return payload[0], current, payload[1]
            current = urljoin(current, location)
        raise FetchFailure("too_many_redirects")

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._host_limits.get(host)
            if slot is None:
                slot = self._host_limits[host] = threading.BoundedSemaphore(max(self.config.per_host, 1))
        return slot

    def _get_once(self, target: Target) -> tuple[str | None, tuple[bytes, int] | None]:
        """One request: a redirect location, or the body and status; raises :class:`FetchFailure`."""
        try:
            response = self._pools.get(target).urlopen("GET", target.request_uri, redirect=False, retries=False,
                                                       preload_content=False)
        except (ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError, HTTPError) as exc:
            raise _network_failure(exc) from None
        finished = False
        try:
            location, payload = self._handle_response(response)
            finished = payload is not None  # the whole body was read: the connection can be reused
            return location, payload
        finally:
            if not finished:
                response.close()  # unread bytes would corrupt the next request on a kept-alive connection
            response.release_conn()

    def _handle_response(self, response: urllib3.BaseHTTPResponse) -> tuple[str | None, tuple[bytes, int] | None]:
        status = response.status
        if 300 <= status < 400 and response.headers.get("Location"):
            return response.headers["Location"], None
        if status >= 400:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            raise FetchFailure(f"http_error:{status}", status in RETRYABLE_STATUS, status, retry_after)
        directive = optout_directive(response.headers.getlist("X-Robots-Tag"), self.config.user_agent_token,
                                     self.config.optout_directives)
        if directive is not None:  # decided on headers alone: the body is never read
            raise BlockedUrl(f"opt_out:{directive}")
        return None, (self._read_body(response), status)

    def _read_body(self, response: urllib3.BaseHTTPResponse) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.config.max_bytes:
            raise FetchFailure("too_large")
        deadline = time.monotonic() + self.config.body_timeout
        chunks: list[bytes] = []
        size = 0
        try:
            # read1 returns what has arrived, so the deadline is checked even while a server drips bytes.
            while chunk := response.read1(CHUNK):  # type: ignore[attr-defined]
                chunks.append(chunk)
                size += len(chunk)
                if size > self.config.max_bytes:
                    raise FetchFailure("too_large")
                if time.monotonic() > deadline:
                    raise FetchFailure("timeout:body", retryable=True)
        except ReadTimeoutError:
            raise FetchFailure("timeout:read", retryable=True) from None
        except (ProtocolError, HTTPError, OSError) as exc:
            raise _network_failure(exc) from None
        return b"".join(chunks)


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt + 1``: "full jitter" exponential backoff.

    Uniform in ``[0, min(cap, base * 2**attempt)]`` (AWS Architecture Blog, "Exponential Backoff And
    Jitter", 2015): without the jitter, every thread that met the same overloaded server retries in the
    same instant and meets it overloaded again. A server's ``Retry-After`` is a floor, not a suggestion:
    the wait is that, plus up to ``base`` of jitter so the returning threads still spread out.
    """
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, base)
    return rng.uniform(0.0, min(cap, base * 2**attempt))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP-date (RFC 9110, section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _network_failure(exc: BaseException) -> FetchFailure:
    """Name a transport error by its root cause: ``timeout:connect``, ``connection_error:reset`` ..."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ReadTimeoutError | TimeoutError):
            return FetchFailure("timeout:read", retryable=True)
        if isinstance(cause, ConnectTimeoutError):
            return FetchFailure("timeout:connect", retryable=True)
        if isinstance(cause, ConnectionResetError):
            return FetchFailure("connection_error:reset", retryable=True)
        if isinstance(cause, ConnectionRefusedError):
            return FetchFailure("connection_error:refused", retryable=True)
        if isinstance(cause, MaxRetryError):
            cause = cause.reason
            continue
        cause = cause.__context__ if cause.__cause__ is None else cause.__cause__
        if cause is None or (isinstance(exc, ProtocolError) and cause is exc):
            break
    if isinstance(exc, ProtocolError):
        return FetchFailure("connection_error:closed", retryable=True)
    return FetchFailure(f"connection_error:{type(exc).__name__}", retryable=True)
