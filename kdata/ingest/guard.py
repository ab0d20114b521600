"""The network guard: which URLs kcli may fetch, and the exact addresses it may connect to.

A URL list is untrusted input. Without a guard, a row such as ``http://169.254.169.254/latest/meta-data``
or ``http://10.0.0.5/admin`` makes the ingest machine fetch from its own private network (server-side
request forgery, OWASP SSRF prevention cheat sheet). By default only ``http``/``https`` URLs whose host
resolves to public addresses are fetched; ``allow_private`` lifts the address check (tests and local
mirrors on 127.0.0.1 use it).

The guard and the HTTP client must read a URL the same way, or the guard checks one host while the
client connects to another: ``http://127.0.0.1:80\\@8.8.8.8/`` is host 8.8.8.8 to ``urllib.parse`` but
127.0.0.1 to urllib3 and to browsers (Orange Tsai, "A New Era of SSRF", Black Hat USA 2017). So a URL is
parsed once, with urllib3's parser (the client's own), and refused as ``blocked:ambiguous_url`` when it
holds anything parsers disagree on: a backslash, userinfo (``user@``), control characters or whitespace,
a host that ``urllib.parse`` reads differently, or a host that is neither a plain DNS name nor an IP
literal. The host is then resolved once, every address is checked, and :func:`check_url` returns a
:class:`Target` naming those addresses: the fetcher connects only to them, never looking the name up
again, which also closes DNS rebinding (a second answer that points somewhere else).

A name that does not resolve raises :class:`HostNotFound` (reason ``dns_error``): a failure that may go
away, unlike a refusal.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.util import parse_url

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Cloud metadata endpoints answer on link-local (AWS/GCP/Azure 169.254.169.254) and, on some clouds,
# on these unique-local or well-known addresses; they are named so the reason says what was refused.
METADATA_ADDRESSES = frozenset({"169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"})
AMBIGUOUS = "blocked:ambiguous_url"
# A host kcli fetches from is a DNS name (letters, digits, '-', '_', '.', after IDNA encoding) or an IP
# literal; anything else ('%', ';', '[' ...) is read differently by different parsers.
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")


class BlockedUrl(Exception):
    """A URL the guard refuses; the message is the row's reason (``blocked:<why>``)."""


class HostNotFound(Exception):
    """The URL's host does not resolve; the message is the row's reason (``dns_error``), worth a retry."""

    def __init__(self) -> None:
        super().__init__("dns_error")


@dataclass(frozen=True)
class Target:
    """A checked URL: what to ask for, the name the server must see, and the only addresses to dial."""

    scheme: str
    host: str  # the name (or IP literal, without brackets) for the Host header, SNI and the certificate
    port: int
    request_uri: str  # path and query, as urllib3 sends them
    addresses: tuple[str, ...]  # resolved once and checked; connect to these and nothing else


def address_class(address: str) -> str | None:
    """Why an IP address may not be fetched (``loopback``, ``private`` ...), or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches it: mapped ::ffff:a.b.c.d, 6to4 2002:abcd::/16.
        if ip.ipv4_mapped is not None:
            return address_class(str(ip.ipv4_mapped))
        if ip.sixtofour is not None and address_class(str(ip.sixtofour)) is not None:
            return address_class(str(ip.sixtofour))
        if ip.is_site_local:  # deprecated fec0::/10, still routed inside some networks
            return "private"
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


def parse_target_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, request_uri)`` of ``url`` as the client reads it, or raise.

    Raises :class:`BlockedUrl` for a scheme other than http(s), no host, or an ambiguous URL, and
    ``ValueError`` for a malformed one (bad IPv6 literal, port out of range).
    """
    # Parsers drop, keep or encode these differently. A space inside the path or query is fine: urllib3
    # sends it as %20, as browsers do; in the host it fails the host check below.
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in url) or url != url.strip():
        raise BlockedUrl(AMBIGUOUS)
    if "\\" in url:
        raise BlockedUrl(AMBIGUOUS)
    split = urlsplit(url)
    _ = split.port  # parsed lazily by urllib: raises ValueError for a bad port, before any look-up
    parsed = parse_url(url)  # urllib3's LocationParseError is a ValueError too
    scheme = (parsed.scheme or "").lower()
    if scheme not in ALLOWED_SCHEMES or split.scheme.lower() != scheme:
        raise BlockedUrl(f"blocked:scheme={scheme or split.scheme.lower() or 'none'}")
    host = (parsed.host or "").lower()
    if not host:
        raise BlockedUrl("blocked:no_host")
    if parsed.auth is not None or "@" in split.netloc or split.port != parsed.port:
        raise BlockedUrl(AMBIGUOUS)
    host = _checked_host(host, split.hostname or "")
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS[scheme]
    return scheme, host, port, parsed.request_uri


def _checked_host(host: str, split_host: str) -> str:
    """The host without brackets, when both parsers agree on it and it is a name or an IP literal."""
    if host.startswith("["):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)  # refuses zone ids ('%eth0'): link-local only, and read differently
        except ValueError:
            raise BlockedUrl(AMBIGUOUS) from None
    elif not _HOST_NAME.fullmatch(host):
        raise BlockedUrl(AMBIGUOUS)
    # A non-ASCII name is IDNA-encoded by urllib3 (checked above); only an ASCII one can be compared as is.
    if split_host.isascii() and split_host.lower() != host:
        raise BlockedUrl(AMBIGUOUS)
    return host


def resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address ``host`` resolves to, in the resolver's order: the one look-up of a fetch."""
    try:  # an IP literal in its usual form is its own answer (other forms, such as 127.1, go to the resolver)
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostNotFound() from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)))
    if not addresses:
        raise HostNotFound()
    return addresses


def check_url(url: str, allow_private: bool = False) -> Target:
    """Parse ``url``, resolve its host once and check every address; the :class:`Target` to connect to.

    Raises :class:`BlockedUrl` (refused), :class:`HostNotFound` (``dns_error``) or ``ValueError``
    (malformed). No connection is made.
    """
    scheme, host, port, request_uri = parse_target_url(url)
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            why = address_class(address)
            if why is not None:  # one non-public answer is enough: a connection may pick it
                raise BlockedUrl(f"blocked:{why}")
    return Target(scheme, host, port, request_uri, addresses)
