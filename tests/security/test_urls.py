"""Crafted URLs and redirect hops against a 127.0.0.1 server that counts requests.

The network guard and the HTTP client must read a URL the same way and connect to the address that was
checked: a URL the guard refuses is never requested (the server counts zero), whatever parser trick or
redirect it uses, and a name is looked up once, so a second DNS answer (rebinding) is never used.

Names resolve from a table the test controls, and every socket connection passes through the test: one
to 127.0.0.1 or ::1 goes ahead, one to the stand-in public address ``PUBLIC`` is delivered to 127.0.0.1 on
the same port (as if the server were that host), any other is refused and recorded. No packet leaves the
machine.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdata.ingest.fetch import FetchConfig, Fetcher
from kdata.ingest.urls import UrlIngestConfig, ingest_urls
from tests.ingest import images

PUBLIC = "8.8.8.8"  # what the test's public names resolve to; connections to it reach the local server
AMBIGUOUS = "blocked:ambiguous_url"
JPEG = images.jpeg(seed=3)


class CountingServer:
    """A 127.0.0.1 HTTP(S) server that records every request: (path as sent, Host header)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[str, str]] = []
        self.server_names: list[str | None] = []
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {"/ok.jpg": (200, {}, JPEG)}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # refused handshakes are on purpose
        if tls is not None:
            tls.sni_callback = lambda sock, name, context: self.server_names.append(name)  # type: ignore[assignment]
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append((self.path, self.headers.get("Host", "")))
                status, headers, body = server.routes.get(self.path, (404, {}, b"no route"))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def redirect(self, path: str, location: str) -> None:
        self.routes[path] = (302, {"Location": location.format(p=self.port)}, b"")


class LoopbackNetwork:
    """Name resolution from ``names`` (successive answers per name; the last repeats) and connections that
    reach 127.0.0.1 / ::1 only."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: dict[str, list[list[str]]] = {}
        self.lookups: Counter[str] = Counter()
        self.connects: list[tuple[str, int]] = []
        self._getaddrinfo, self._connect = socket.getaddrinfo, socket.socket.connect
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", self.connect_method())

    def getaddrinfo(self, host: str | bytes | None, port: object, family: int = 0, type: int = 0,  # noqa: A002
                    proto: int = 0, flags: int = 0) -> list:
        host = host.decode() if isinstance(host, bytes) else host
        try:  # numeric forms (127.1, 0x7f000001 ...) are read as the C library reads them, with no look-up
            return self._getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            pass
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        self.lookups[host] += 1
        answers = self.names[host]
        chosen = answers[min(self.lookups[host], len(answers)) - 1]
        number = int(port) if port is not None else 0  # type: ignore[call-overload]
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, number, 0, 0)) if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, number)) for a in chosen]

    def connect_method(self) -> object:
        network = self

        def connect(sock: socket.socket, address: tuple) -> None:
            host, port = address[0], address[1]
            network.connects.append((host, port))
            if host == PUBLIC:
                return network._connect(sock, ("127.0.0.1", port))
            if host in ("127.0.0.1", "::1"):
                return network._connect(sock, address)
            raise ConnectionRefusedError(f"the test network does not reach {host}")

        return connect


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> LoopbackNetwork:
    network = LoopbackNetwork(monkeypatch)
    network.names.update({"public.test": [[PUBLIC]], "localhost": [["::1", "127.0.0.1"]],
                          "mixed.test": [[PUBLIC, "127.0.0.1"]], "metadata.test": [["169.254.169.254"]]})
    return network


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[CountingServer]:
    server = CountingServer(tls)
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def server(net: LoopbackNetwork) -> Iterator[CountingServer]:
    yield from _serve()


# Each refused before any connection, with the row's reason. {p} is the server's port.
REFUSED = [
    ("http://127.0.0.1:{p}\\@8.8.8.8/admin", AMBIGUOUS),  # urllib.parse: host 8.8.8.8; urllib3: 127.0.0.1
    ("http://127.0.0.1:{p}\\\\@8.8.8.8/admin", AMBIGUOUS),
    ("http://8.8.8.8\\@127.0.0.1:{p}/ok.jpg", AMBIGUOUS),
    ("http://127.0.0.1:{p}/\\\\8.8.8.8/ok.jpg", AMBIGUOUS),
    ("http://user@127.0.0.1:{p}/ok.jpg", AMBIGUOUS),
    ("http://8.8.8.8:{p}@127.0.0.1:{p}/ok.jpg", AMBIGUOUS),
    ("http://public.test%2f@127.0.0.1:{p}/ok.jpg", AMBIGUOUS),
    ("http://%31%32%37.0.0.1:{p}/ok.jpg", AMBIGUOUS),
    ("http://127.0.0.1:{p}/ok.jpg\r\nX-Injected: 1", AMBIGUOUS),
    ("http://127.0.0.1:{p}/ok\t.jpg", AMBIGUOUS),
    ("http://127.0.0.1\x00.public.test:{p}/ok.jpg", AMBIGUOUS),
    ("http://127.0.0.1:{p}#@8.8.8.8/", "blocked:loopback"),
    ("http://127.0.0.1:{p}/ok.jpg", "blocked:loopback"),
    ("http://127.1:{p}/ok.jpg", "blocked:loopback"),
    ("http://2130706433:{p}/ok.jpg", "blocked:loopback"),
    ("http://0x7f000001:{p}/ok.jpg", "blocked:loopback"),
    ("http://0177.0.0.1:{p}/ok.jpg", "blocked:loopback"),
    ("http://[::ffff:127.0.0.1]:{p}/ok.jpg", "blocked:loopback"),
    ("http://[::ffff:7f00:1]:{p}/ok.jpg", "blocked:loopback"),
    ("http://[::1]:{p}/ok.jpg", "blocked:loopback"),
    ("http://localhost:{p}/ok.jpg", "blocked:loopback"),
    ("http://mixed.test:{p}/ok.jpg", "blocked:loopback"),  # one non-public answer of several is enough
    ("http://0.0.0.0:{p}/ok.jpg", "blocked:reserved"),  # reaches the local host on Linux
    ("http://0:{p}/ok.jpg", "blocked:reserved"),
    ("http://metadata.test/latest/meta-data/", "blocked:metadata"),
    ("file:///etc/passwd", "blocked:scheme=file"),
]


def test_refused_urls_are_never_requested(server: CountingServer, net: LoopbackNetwork, tmp_path: Path) -> None:
    urls = [template.format(p=server.port) for template, _ in REFUSED]
    pq.write_table(pa.table({"url": urls}), tmp_path / "urls.parquet")
    config = UrlIngestConfig(input=str(tmp_path / "urls.parquet"), threads=4, fetch=FetchConfig(retries=0))
    rows = {r["url"]: (r["status"], r["reason"]) for r in ingest_urls(config, tmp_path / "out").manifest.read_table()
            .to_pylist()}
    assert server.requests == []
    assert net.connects == []
    assert [rows[url] for url in urls] == [("rejected", reason) for _, reason in REFUSED]


def test_ambiguous_urls_stay_refused_with_allow_private(server: CountingServer, net: LoopbackNetwork) -> None:
    fetcher = Fetcher(FetchConfig(allow_private=True, retries=0))
    urls = [template.format(p=server.port) for template, reason in REFUSED if reason == AMBIGUOUS]
    outcomes = [(fetched.reason, fetched.rejected) for fetched in map(fetcher.fetch, urls)]
    assert server.requests == [] and net.connects == []
    assert outcomes == [(AMBIGUOUS, True)] * len(urls)


@pytest.mark.parametrize(("location", "reason"), [
    ("http://127.0.0.1:{p}/ok.jpg", "blocked:loopback"),
    ("http://127.0.0.1:{p}\\@8.8.8.8/admin", AMBIGUOUS),
    ("\\\\127.0.0.1:{p}/ok.jpg", AMBIGUOUS),  # browsers read a leading \\ as //
    ("//localhost:{p}/ok.jpg", "blocked:loopback"),
    ("http://user@public.test:{p}/ok.jpg", AMBIGUOUS),
    ("http://0x7f000001:{p}/ok.jpg", "blocked:loopback"),
    ("http://[::ffff:127.0.0.1]:{p}/ok.jpg", "blocked:loopback"),
    ("gopher://127.0.0.1:{p}/", "blocked:scheme=gopher"),
])
def test_a_redirect_hop_is_checked_before_its_request(server: CountingServer, net: LoopbackNetwork, location: str,
                                                      reason: str) -> None:
    server.redirect("/hop", location)
    fetched = Fetcher(FetchConfig(retries=0)).fetch(f"http://public.test:{server.port}/hop")
    assert server.requests == [("/hop", f"public.test:{server.port}")]  # the first hop only
    assert net.connects == [(PUBLIC, server.port)]
    assert (fetched.reason, fetched.rejected, fetched.data) == (reason, True, None)


def test_a_name_is_resolved_once_and_the_checked_address_is_dialled(server: CountingServer,
                                                                      net: LoopbackNetwork) -> None:
    net.names["rebind.test"] = [[PUBLIC], ["127.0.0.1"]]  # public for one look-up, loopback after
    fetcher = Fetcher(FetchConfig(retries=0))
    fetched = fetcher.fetch(f"http://rebind.test:{server.port}/ok.jpg")
    assert net.lookups["rebind.test"] == 1
    assert net.connects == [(PUBLIC, server.port)]
    assert server.requests == [("/ok.jpg", f"rebind.test:{server.port}")]  # the name, not the address
    assert (fetched.reason, fetched.data) == (None, JPEG)
    # The next fetch looks the name up again, sees loopback, and refuses before reusing the open connection.
    again = fetcher.fetch(f"http://rebind.test:{server.port}/ok.jpg")
    assert (again.reason, again.rejected) == ("blocked:loopback", True)
    assert len(server.requests) == 1 and net.lookups["rebind.test"] == 2


def test_allow_private_still_downloads_loopback(server: CountingServer, net: LoopbackNetwork) -> None:
    server.redirect("/redirect.jpg", "/ok.jpg")
    fetcher = Fetcher(FetchConfig(allow_private=True, retries=0))
    for url in ("http://127.0.0.1:{p}/ok.jpg", "http://localhost:{p}/ok.jpg", "http://127.0.0.1:{p}/redirect.jpg"):
        fetched = fetcher.fetch(url.format(p=server.port))
        assert (fetched.reason, fetched.data) == (None, JPEG), url
    assert fetched.final_url == f"http://127.0.0.1:{server.port}/ok.jpg"
    assert [path for path, _ in server.requests] == ["/ok.jpg", "/ok.jpg", "/redirect.jpg", "/ok.jpg"]
    assert server.requests[1][1] == f"localhost:{server.port}"
    assert ("::1", server.port) in net.connects  # localhost's first answer refused: the next one was dialled


def test_https_keeps_the_name_for_sni_and_the_certificate(net: LoopbackNetwork, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed("secure.test", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this certificate and nothing else
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    net.names.update({"secure.test": [[PUBLIC]], "impostor.test": [[PUBLIC]]})
    for server in _serve(tls):
        fetcher = Fetcher(FetchConfig(retries=0))
        fetched = fetcher.fetch(f"https://secure.test:{server.port}/ok.jpg")
        assert (fetched.reason, fetched.data) == (None, JPEG)
        assert server.server_names == ["secure.test"]
        assert server.requests == [("/ok.jpg", f"secure.test:{server.port}")]
        # Same address, other name: the certificate is checked against the name, so the handshake fails.
        wrong = fetcher.fetch(f"https://impostor.test:{server.port}/ok.jpg")
        assert wrong.data is None and (wrong.reason or "").startswith("connection_error:")
        assert len(server.requests) == 1


def _self_signed(name: str, folder: Path) -> tuple[Path, Path]:
    crypto = pytest.importorskip("cryptography")  # a dependency of the HTTP stack, not of kcli itself
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_host_that_does_not_resolve_fails_and_a_later_run_retries_it(server: CountingServer, net: LoopbackNetwork,
                                                                        tmp_path: Path) -> None:
    (tmp_path / "urls.txt").write_text(f"http://flaky.test:{server.port}/ok.jpg\n")
    config = UrlIngestConfig(input=str(tmp_path / "urls.txt"), fetch=FetchConfig(allow_private=True, retries=0))

    def outcomes() -> list[tuple[str, str | None]]:
        table = ingest_urls(config, tmp_path / "out").manifest.read_table()
        return [(r["status"], r["reason"]) for r in table.to_pylist()]

    assert outcomes() == [("failed", "dns_error")]  # a failure that may go away, not a refusal
    assert server.requests == []
    net.names["flaky.test"] = [["127.0.0.1"]]
    assert outcomes() == [("ok", None)]
    assert server.requests == [("/ok.jpg", f"flaky.test:{server.port}")]


def test_the_crawl_guard_refuses_and_fails_pages_like_ingest(net: LoopbackNetwork) -> None:
    import asyncio

    from scrapy import Request
    from twisted.python.failure import Failure

    from kdata.crawl.failures import failure_reason
    from kdata.crawl.politeness import NetworkGuardMiddleware

    guard = NetworkGuardMiddleware(allow_private=False)

    def outcome(url: str) -> tuple[str, str]:
        try:
            asyncio.run(guard.process_request(Request(url)))
        except Exception as exc:  # noqa: BLE001 - the exception's kind is what is checked
            return failure_reason(Failure(exc))
        return ("allowed", url)

    assert outcome("http://gone.test/gallery.html") == ("failed", "dns_error")  # retried, like ingest's rows
    assert outcome("http://user@8.8.8.8/") == ("rejected", AMBIGUOUS)
    # scrapy's Request reads a backslash as '/' (as browsers do), so the guard checks 127.0.0.1 here.
    assert outcome("http://127.0.0.1:9\\@8.8.8.8/") == ("rejected", "blocked:loopback")
    assert net.connects == []
