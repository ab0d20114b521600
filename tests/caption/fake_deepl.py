"""A stand-in for the DeepL API on 127.0.0.1: the ``/v2/translate`` endpoint the ``deepl`` package calls.

It answers as the API documents (https://developers.deepl.com/api-reference/translate): JSON in
(``text``, ``source_lang``, ``target_lang``, ``context``, ...), ``{"translations": [{"text",
"detected_source_language", "billed_characters"}]}`` out, 403 for a key it does not know and 456 when the
quota is spent. A translation is ``"<TARGET>: <text>"``, so a test can tell exactly what was sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "f4k3-k3y-0123456789abcdef:fx"


@dataclass
class FakeDeepl:
    key: str = KEY
    quota_spent: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, auth: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append(body)
        self.auth_headers.append(auth)
        if path != "/v2/translate":
            return 404, {"message": "no such endpoint"}
        if auth != f"DeepL-Auth-Key {self.key}":
            # The real API does not echo the key; this one does, so a test can see that kcli scrubs it.
            return 403, {"message": f"unknown key {auth.removeprefix('DeepL-Auth-Key ')}"}
        if self.quota_spent:
            return 456, {"message": "Quota exceeded"}
        if any("FAIL" in text for text in body["text"]):
            return 400, {"message": f"Value for 'text' not supported (request signed with {self.key})"}
        target = body["target_lang"]
        return 200, {"translations": [{"text": f"{target}: {text}", "detected_source_language": body["source_lang"],
                                       "billed_characters": len(text)} for text in body["text"]]}


@contextmanager
def serve_deepl(fake: FakeDeepl | None = None) -> Iterator[FakeDeepl]:
    fake = fake or FakeDeepl()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, reply = fake.answer(self.path, self.headers.get("Authorization", ""), body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
