"""A page request that ended in an error, named as a row's status and reason.

Reasons use the same vocabulary as the ingest downloader (``http_error:404``, ``timeout``,
``connection_error:refused``, ``blocked:loopback``) so page and image rows read alike. Policy decisions
(robots.txt, an off-site redirect, the network guard) are ``rejected``; everything else ``failed``.
"""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as twisted_error
from twisted.python.failure import Failure

from kdata.schema import Status

_FAILED = (
    ((DownloadTimeoutError, twisted_error.TimeoutError, twisted_error.TCPTimedOutError), "timeout"),
    ((CannotResolveHostError, twisted_error.DNSLookupError), "dns_error"),
    ((DownloadConnectionRefusedError, twisted_error.ConnectionRefusedError), "connection_error:refused"),
    ((ResponseDataLossError, twisted_error.ConnectionLost, twisted_error.ConnectionDone), "connection_error:closed"),
)


def failure_reason(failure: Failure) -> tuple[str, str]:
    """``(status, reason)`` for a failed request."""
    if failure.check(HttpError):
        return Status.FAILED, f"http_error:{failure.value.response.status}"
    if failure.check(IgnoreRequest):
        return Status.REJECTED, _ignored_reason(str(failure.value))
    for classes, reason in _FAILED:
        if failure.check(*classes):
            return Status.FAILED, reason
    name = type(failure.value).__name__
    if type(failure.value).__module__.startswith("playwright"):
        return Status.FAILED, f"render_error:{name}"
    return Status.FAILED, f"error:{name}"


def _ignored_reason(message: str) -> str:
    if message.startswith("blocked:") or message == "dns_error":
        return message  # the network guard's own reason
    if "robots.txt" in message:
        return "robots_txt"
    if "offsite" in message:
        return "offsite_redirect"
    if "redirections" in message:
        return "too_many_redirects"
    return "ignored"
