"""A local HTTP server on 127.0.0.1 whose paths each inject one fault (or serve one kind of image)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.ingest import images


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_body: float = 0.0  # seconds between the headers and the body
    drip: float = 0.0  # seconds between single body bytes
    reset: bool = False  # close the connection with a TCP reset instead of answering


Route = Callable[[int], Reply]  # called with how many times the path was requested before


def image_route(seed: int, delay: float = 0.0, width: int = 96, height: int = 64) -> Route:
    """A route serving one generated JPEG, its body ``delay`` seconds after the headers."""
    body = images.jpeg(width, height, seed=seed)
    return lambda hits: Reply(body=body, delay_body=delay)


def _once_then(first: Reply, then: Reply) -> Route:
    return lambda hits: first if hits == 0 else then


def default_routes() -> dict[str, Route]:
    ok = Reply(body=images.jpeg(seed=1), headers={"Content-Type": "image/jpeg"})
    return {
        "/ok.jpg": lambda n: ok,
        "/404.jpg": lambda n: Reply(404, b"missing"),
        "/500-then-200.jpg": _once_then(Reply(500, b"oops"), Reply(body=images.jpeg(seed=2))),
        "/always-500.jpg": lambda n: Reply(500, b"oops"),
        "/429-retry-after.jpg": _once_then(Reply(429, b"slow down", {"Retry-After": "1"}),
                                           Reply(body=images.jpeg(seed=7))),
        "/slow-body.jpg": lambda n: Reply(body=images.jpeg(seed=8), delay_body=3.0),
        "/drip.jpg": lambda n: Reply(body=images.jpeg(seed=9)[:40], drip=0.3),
        "/reset.jpg": lambda n: Reply(reset=True),
        "/loop-a.jpg": lambda n: Reply(302, b"", {"Location": "/loop-b.jpg"}),
        "/loop-b.jpg": lambda n: Reply(302, b"", {"Location": "/loop-a.jpg"}),
        "/redirect.jpg": lambda n: Reply(301, b"", {"Location": "/ok.jpg"}),
        "/html.jpg": lambda n: Reply(body=images.HTML, headers={"Content-Type": "image/jpeg"}),
        "/truncated.jpg": lambda n: Reply(body=images.truncated_jpeg()),
        "/empty.jpg": lambda n: Reply(body=b""),
        "/bomb.png": lambda n: Reply(body=images.bomb_png()),
        "/animated.gif": lambda n: Reply(body=images.animated_gif()),
        "/cmyk.jpg": lambda n: Reply(body=images.cmyk_jpeg()),
        "/16bit.png": lambda n: Reply(body=images.png_16bit()),
        "/palette-alpha.png": lambda n: Reply(body=images.palette_alpha_png()),
        "/image.webp": lambda n: Reply(body=images.webp()),
        "/vector.svg": lambda n: Reply(body=images.SVG, headers={"Content-Type": "image/svg+xml"}),
        "/rotated.jpg": lambda n: Reply(body=images.rotated_jpeg()),
        "/too-large.jpg": lambda n: Reply(body=b"\xff\xd8\xff" + b"\x00" * 300_000),
        # The opt-out body would take 5 s: only a client that decides on headers finishes quickly.
        "/noai.jpg": lambda n: Reply(body=images.jpeg(seed=12), headers={"X-Robots-Tag": "noai"}, delay_body=5.0),
        "/noimageai-for-kcli.jpg": lambda n: Reply(body=images.jpeg(seed=13),
                                                    headers={"X-Robots-Tag": "kcli: noimageai"}),
        "/noai-for-another-bot.jpg": lambda n: Reply(body=images.jpeg(seed=14),
                                                      headers={"X-Robots-Tag": "otherbot: noai"}),
    }


class FaultServer:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.user_agents: set[str] = set()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # resets and timeouts are on purpose

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real servers do; avoids 40 ms delayed-ACK stalls

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                with server._lock:
                    hits = server.hits[path]
                    server.hits[path] += 1
                    server.times.setdefault(path, []).append(time.monotonic())
                    server.user_agents.add(self.headers.get("User-Agent", ""))
                route = server.routes.get(path)
                server._answer(self, route(hits) if route else Reply(404, b"no route"))

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.reset:
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            handler.connection.close()
            return
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        try:
            handler.wfile.flush()
            time.sleep(reply.delay_body)
            if reply.drip:
                for byte in reply.body:
                    handler.wfile.write(bytes([byte]))
                    handler.wfile.flush()
                    time.sleep(reply.drip)
            else:
                handler.wfile.write(reply.body)
        except OSError:  # the client gave up (timeout, opt-out): expected
            handler.close_connection = True


@contextmanager
def serve(routes: dict[str, Route] | None = None) -> Iterator[FaultServer]:
    server = FaultServer(routes if routes is not None else default_routes())
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
