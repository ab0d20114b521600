"""Connections that go only to the addresses the network guard checked.

urllib3 normally resolves a pool's host name itself when it opens a connection: a second look-up, whose
answer the guard never saw (DNS rebinding: a name that is public for the check and 127.0.0.1 for the
connection). Here a pool is made for a :class:`~kdata.ingest.guard.Target`: its connections dial the
target's checked addresses, in order, and nothing else, while the pool's host stays the URL's name, so
the ``Host`` header, TLS SNI and certificate verification are those of the name, as with any client.
"""

from __future__ import annotations

import socket
import threading
from collections import OrderedDict
from typing import Any

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from kdata.ingest.guard import Target


def _connect(conn: HTTPConnection, addresses: tuple[str, ...]) -> socket.socket:
    """A socket to the first of ``addresses`` that answers (urllib3's own ``_new_conn``, without a look-up)."""
    error: OSError | None = None
    for address in addresses:
        try:  # a numeric address: getaddrinfo inside create_connection does no DNS query
            return create_connection((address, conn.port), conn.timeout, source_address=conn.source_address,
                                     socket_options=conn.socket_options)
        except OSError as exc:
            error = exc
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})") \
            from error
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


class PinnedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, addresses: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.addresses = addresses

    def _new_conn(self) -> socket.socket:
        return _connect(self, self.addresses)


class PinnedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, addresses: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.addresses = addresses

    def _new_conn(self) -> socket.socket:
        return _connect(self, self.addresses)


class PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


class PinnedPools:
    """Keep-alive pools keyed by (scheme, host, port, checked addresses); the least recently used past
    ``num_pools`` is closed. Safe to share between threads."""

    def __init__(self, num_pools: int, maxsize: int, timeout: Timeout, headers: dict[str, str]) -> None:
        self.num_pools, self.maxsize, self.timeout, self.headers = num_pools, maxsize, timeout, headers
        self._pools: OrderedDict[tuple[str, str, int, tuple[str, ...]], HTTPConnectionPool] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, target: Target) -> HTTPConnectionPool:
        key = (target.scheme, target.host, target.port, target.addresses)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            pool_class = PinnedHTTPSConnectionPool if target.scheme == "https" else PinnedHTTPConnectionPool
            host = f"[{target.host}]" if ":" in target.host else target.host
            pool = self._pools[key] = pool_class(host, target.port, timeout=self.timeout, maxsize=self.maxsize,
                                                 block=False, retries=False, headers=self.headers,
                                                 addresses=target.addresses)
            while len(self._pools) > self.num_pools:
                self._pools.popitem(last=False)[1].close()  # a connection still in use closes when returned
            return pool

    def clear(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()
