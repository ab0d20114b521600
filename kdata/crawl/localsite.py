"""A static site served on 127.0.0.1, for the demo and the tests: folders, mounts, per-path headers.

``_headers.json`` at the site root maps URL paths (``fnmatch`` patterns) to response headers, like the
``_headers`` file of static hosts; a ``Content-Type`` there replaces the guessed one (a page served as
``text/html; charset=euc-kr``), anything else is added (``X-Robots-Tag: noai``). ``mounts`` serve other
folders under a prefix (the demo site shows the bundled sample images under ``/images/``). Every
request path is appended to ``requests`` and its arrival time (``time.monotonic``) to ``times``, so a test
can tell what was fetched, in what order and how far apart.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

HEADERS_FILE = "_headers.json"


@dataclass
class SiteServer:
    base_url: str
    requests: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


class _SiteHandler(SimpleHTTPRequestHandler):
    site: Path
    mounts: Mapping[str, Path]
    headers_map: dict[str, dict[str, str]]
    log: list[str]
    times: list[float]

    def translate_path(self, path: str) -> str:
        clean = unquote(urlsplit(path).path)
        for prefix, folder in self.mounts.items():
            if clean.startswith(prefix):
                return str(folder / clean[len(prefix):].lstrip("/"))
        return str(self.site / clean.lstrip("/"))

    def send_head(self) -> Any:
        self.times.append(time.monotonic())
        self.log.append(urlsplit(self.path).path)
        if Path(self.translate_path(self.path)).is_dir() and not (Path(self.translate_path(self.path)) /
                                                                  "index.html").exists():
            self.send_error(404)  # no directory listings: a crawler would follow them
            return None
        return super().send_head()

    def _matching(self) -> dict[str, str]:
        path = urlsplit(self.path).path
        found: dict[str, str] = {}
        for pattern, headers in self.headers_map.items():
            if fnmatch.fnmatchcase(path, pattern):
                found.update(headers)
        return found

    def guess_type(self, path: Any) -> str:
        return self._matching().get("Content-Type") or super().guess_type(path)

    def end_headers(self) -> None:
        for name, value in self._matching().items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


@contextmanager
def serve_site(root: Path, mounts: Mapping[str, Path] | None = None) -> Iterator[SiteServer]:
    """Serve ``root`` on a free port of 127.0.0.1 for the duration of the ``with`` block."""
    headers_path = root / HEADERS_FILE
    headers_map = json.loads(headers_path.read_text(encoding="utf-8")) if headers_path.exists() else {}
    log: list[str] = []
    times: list[float] = []
    attrs = {"site": root, "mounts": dict(mounts or {}), "headers_map": headers_map, "log": log, "times": times}
    handler = type("SiteHandler", (_SiteHandler,), attrs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SiteServer(f"http://127.0.0.1:{server.server_address[1]}", log, times)
    finally:
        server.shutdown()
        server.server_close()
