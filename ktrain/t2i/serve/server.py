"""Run the demo: bind the socket first (a busy port is refused before the model loads), load the model
once, then serve with uvicorn. :class:`ServerThread` runs the same server from a background thread
(tests, notebooks) on a free loopback port.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kdata.errors import ConfigError
from ktrain.t2i.serve.limits import ServeLimits
from ktrain.t2i.stages import StagesConfig


@dataclass
class ServeConfig:
    base: str
    text_encoder: str | None = None
    loras: dict[str, str] = field(default_factory=dict)  # name -> path
    host: str = "127.0.0.1"
    port: int = 7860
    limits: ServeLimits = field(default_factory=ServeLimits)
    variant: str | None = None  # the base's weight variant (fp16)
    base_config: str | None = None  # a single-file base's component configs
    translator: str | None = None  # Korean → English model: the page can then compare both paths side by side
    stages: StagesConfig = field(default_factory=StagesConfig)  # refiner / upscaler a request may switch on
    prompt_index: str | None = None  # kcli index build's folder: the page suggests the nearest prompts as one types


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use; pass another --port (0 picks a free one)") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _uvicorn_server(app: Any) -> Any:
    import uvicorn

    # Request lines go to uvicorn's own loggers at warning level: the CLI prints the URL once, nothing per hit.
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))


def serve(config: ServeConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Bind, load the model, serve until interrupted (Ctrl-C)."""
    from ktrain.t2i.serve.app import create_app
    from ktrain.t2i.serve.engine import EngineModels, GenerationEngine
    from ktrain.t2i.serve.suggest import PromptSuggester

    sock = bind_socket(config.host, config.port)
    try:
        # The index opens first: a wrong path is refused in one line before the model loads.
        suggester = PromptSuggester.open(config.prompt_index) if config.prompt_index else None
        extra = EngineModels(config.text_encoder, config.translator, config.stages)
        engine = GenerationEngine(config.base, config.text_encoder, config.loras, variant=config.variant,
                                  base_config=config.base_config, extra=extra)
        server = _uvicorn_server(create_app(engine, config.limits, suggester))
        if on_ready:
            on_ready(url_of(sock))
        server.run(sockets=[sock])
    finally:
        sock.close()


class ServerThread:
    """The app served from a daemon thread on ``host`` and a free port; ``stop()`` shuts it down."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.sock = bind_socket(host, 0)
        self.url = url_of(self.sock)
        self.server = _uvicorn_server(app)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
