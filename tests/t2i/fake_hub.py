"""A stand-in for the Hugging Face Hub's file endpoint on 127.0.0.1: ``HEAD /<org>/<name>/resolve/main/<file>``
answers 200 for the files it holds, the Hub's ``EntryNotFound`` 404 for the rest, and 403 (gated) for repos
named ``gated``; it records every path asked for."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeModelHub:
    def __init__(self, files: set[str]) -> None:
        self.files = files  # "org/name/config.json"
        self.asked: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                hub.asked.append(self.path)
                status, headers = hub.answer(self.path)
                self.send_response(status)
                for key, value in {**headers, "content-length": "0"}.items():
                    self.send_header(key, value)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, path: str) -> tuple[int, dict[str, str]]:
        repo, _, file = path.lstrip("/").partition("/resolve/main/")
        if repo.endswith("/gated"):
            return 403, {"x-error-code": "GatedRepo", "x-error-message": "Access to this model is restricted."}
        if f"{repo}/{file}" in self.files:
            return 200, {"x-repo-commit": "0" * 40, "etag": '"abc"'}
        return 404, {"x-error-code": "EntryNotFound", "x-error-message": "Entry not found"}

    def __enter__(self) -> FakeModelHub:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
