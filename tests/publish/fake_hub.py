"""A stand-in for the Hugging Face Hub on 127.0.0.1 that accepts the token for ``whoami`` and repo
creation, then refuses the upload with HTTP 401: enough to drive a publish through every Hub call
kcli makes, offline, while recording what the client sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeHub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                hub.requests.append({"method": self.command, "path": self.path,
                                     "authorization": self.headers.get("authorization")})
                status, body = hub.route(self.command, self.path)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_HEAD = _answer  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        if path.startswith("/api/whoami"):
            return 200, {"type": "user", "name": "tester", "auth": {"type": "access_token",
                                                                  "accessToken": {"role": "write"}}}
        if method == "POST" and path.startswith("/api/repos/create"):
            return 200, {"url": f"{self.url}/datasets/org/name", "name": "org/name"}
        return 401, {"error": "Invalid credentials in Authorization header"}

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
