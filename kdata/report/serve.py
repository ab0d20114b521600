"""``kcli view``: serve a report folder on 127.0.0.1 with the standard library's HTTP server.

Bound to the loopback interface only: the report shows every row of a manifest, including rejected
ones, and is not meant to be reachable from the network. With a search function (an image index built
from the manifest, :func:`kdata.report.search.index_search`) the server also answers
``GET /api/search?q=TEXT&k=N`` with JSON hits; ``GET /api/status`` says whether it can.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kdata.errors import ConfigError

HOST = "127.0.0.1"
HEX_FINGERPRINT = re.compile(r"[0-9a-f]{16,64}")
MAX_K = 500
log = logging.getLogger(__name__)
SearchFunction = Callable[[str, int], dict[str, Any]]


class _QuietHandler(SimpleHTTPRequestHandler):
    """Request lines go to the logger, not stderr (library code never prints); ``api/`` answers JSON."""

    def __init__(self, *args: Any, search: SearchFunction | None = None, lock: threading.Lock | None = None,
                 **kwargs: Any) -> None:
        self.search = search
        self.lock = lock
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s - " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        url = urlsplit(self.path)
        if url.path == "/api/status":
            return self._json(200, {"search": self.search is not None})
        if url.path == "/api/search":
            return self._search(parse_qs(url.query))
        return super().do_GET()

    def _search(self, query: dict[str, list[str]]) -> None:
        text = (query.get("q") or [""])[0].strip()
        if self.search is None:
            return self._json(404, {"error": "no image index: serve with kcli view MANIFEST --index INDEX"})
        if not text:
            return self._json(400, {"error": "empty query: pass q=TEXT"})
        try:
            k = min(max(int((query.get("k") or ["20"])[0]), 1), MAX_K)
        except ValueError:
            return self._json(400, {"error": "k must be a whole number"})
        with self.lock or threading.Lock():  # one model call at a time: torch modules are not re-entrant
            return self._json(200, self.search(text, k))

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ReportServer:
    """A static file server over ``root``; ``port=0`` picks a free port; ``search`` answers ``/api/search``."""

    def __init__(self, root: Path, port: int = 0, search: SearchFunction | None = None) -> None:
        handler = partial(_QuietHandler, directory=str(root), search=search, lock=threading.Lock())
        try:
            self.httpd = ThreadingHTTPServer((HOST, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} is in use; pass another --port (0 picks a free one)") from None
            raise
        self.root = root
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C), then release the port."""
        try:
            self.httpd.serve_forever()
        finally:
            self.httpd.server_close()

    def start(self) -> ReportServer:
        """Serve from a daemon thread (tests, notebooks); call ``stop`` when done."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()


def report_dir(manifest: str | Path) -> Path:
    """Where ``kcli view`` keeps a manifest's report: the kcli home, keyed by the manifest's fingerprint."""
    from kdata.manifest import open_manifest
    from kdata.models.home import kcli_home

    return kcli_home() / "reports" / report_key(open_manifest(manifest).fingerprint)


def report_key(fingerprint: str) -> str:
    """A folder name for ``fingerprint``: its first 16 hex digits, or a hash of it when it is not hex.

    The fingerprint is read from the manifest's descriptor, which anyone can edit; a value such as
    ``../../x`` must not become a path, so only what is plainly a sha256 digest is used as it is.
    """
    if HEX_FINGERPRINT.fullmatch(fingerprint):
        return fingerprint[:16]
    return hashlib.sha256(fingerprint.encode("utf-8", "surrogatepass")).hexdigest()[:16]
