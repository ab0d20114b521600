"""The network guard: which URLs kcli may fetch at all.

A URL list is untrusted input. Without a guard, a row such as ``http://169.254.169.254/latest/meta-data``
or ``http://10.0.0.5/admin`` makes the ingest machine fetch from its own private network (server-side
request forgery, OWASP SSRF prevention cheat sheet). By default only ``http``/``https`` URLs whose host
resolves to public addresses are fetched; ``allow_private`` lifts the address check (tests and local
mirrors on 127.0.0.1 use it). The check runs on every redirect hop, and the fetcher checks the address it
actually connected to again before reading a body (a DNS answer can change between the two look-ups).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")
# Cloud metadata endpoints answer on link-local (AWS/GCP/Azure 169.254.169.254) and, on some clouds,
# on these unique-local or well-known addresses; they are named so the reason says what was refused.
METADATA_ADDRESSES = frozenset({"169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"})


class BlockedUrl(Exception):
    """A URL the guard refuses; the message is the row's reason (``blocked:<why>``)."""


def address_class(address: str) -> str | None:
    """Why an IP address may not be fetched (``loopback``, ``private`` ...), or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in METADATA_ADDRESSES:
        return "metadata"
    checks = (
        ("loopback", ip.is_loopback),
        ("link_local", ip.is_link_local),
        ("reserved", ip.is_reserved or ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
    )
    for name, hit in checks:
        if hit:
            return name
    return None if ip.is_global else "private"


def check_scheme(url: str) -> str:
    """Return the URL's host, or raise :class:`BlockedUrl` for a scheme other than http(s) or no host.

    A malformed URL (bad IPv6 literal, port out of range) raises ``ValueError`` from the parser.
    """
    parts = urlsplit(url)
    _ = parts.port  # parsed lazily by urllib: force it, so a bad port fails here and not mid-request
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise BlockedUrl(f"blocked:scheme={parts.scheme.lower() or 'none'}")
    if not parts.hostname:
        raise BlockedUrl("blocked:no_host")
    return parts.hostname


def check_url(url: str, allow_private: bool = False) -> None:
    """Raise :class:`BlockedUrl` unless ``url`` may be fetched; resolves the host (no connection made)."""
    host = check_scheme(url)
    if allow_private:
        return
    port = urlsplit(url).port or 80
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise BlockedUrl("dns_error") from None
    for info in infos:
        why = address_class(str(info[4][0]))
        if why is not None:  # one non-public answer is enough: the connection may pick it
            raise BlockedUrl(f"blocked:{why}")


def check_peer(address: str | None, allow_private: bool = False) -> None:
    """Check the address a connection actually reached (closes the DNS-rebinding gap)."""
    if allow_private or not address:
        return
    why = address_class(address)
    if why is not None:
        raise BlockedUrl(f"blocked:{why}")
