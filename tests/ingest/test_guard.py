"""The network guard on literal addresses and schemes (no connection is ever made here)."""

from __future__ import annotations

import pytest

from kdata.ingest.fetch import FetchConfig, Fetcher
from kdata.ingest.guard import BlockedUrl, address_class, check_peer, check_url
from kdata.ingest.robots import optout_directive


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fd12::1", "private"),
    ("100.64.0.1", "private"), ("169.254.169.254", "metadata"), ("169.254.1.1", "link_local"),
    ("fe80::1", "link_local"), ("0.0.0.0", "reserved"), ("224.0.0.1", "multicast"),
    ("8.8.8.8", None), ("2606:4700:4700::1111", None),
])
def test_address_classes(address: str, expected: str | None) -> None:
    assert address_class(address) == expected


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:9/a.jpg", "blocked:loopback"),
    ("http://[::1]/a.jpg", "blocked:loopback"),
    ("http://169.254.169.254/latest/meta-data/", "blocked:metadata"),
    ("http://10.0.0.8/x.png", "blocked:private"),
    ("file:///etc/passwd", "blocked:scheme=file"),
    ("gopher://example.org/", "blocked:scheme=gopher"),
    ("data:image/png;base64,AAAA", "blocked:scheme=data"),
    ("http:///no-host.jpg", "blocked:no_host"),
])
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(BlockedUrl, match=f"^{reason}$"):
        check_url(url)


def test_allow_private_lifts_the_address_check_but_not_the_scheme_check() -> None:
    check_url("http://127.0.0.1:9/a.jpg", allow_private=True)
    check_peer("10.0.0.1", allow_private=True)
    with pytest.raises(BlockedUrl, match="blocked:scheme=file"):
        check_url("file:///etc/passwd", allow_private=True)
    with pytest.raises(BlockedUrl, match="blocked:private"):
        check_peer("192.168.0.10")


@pytest.mark.parametrize(("values", "expected"), [
    (["noai"], "noai"), (["noindex, NoImageAI"], "noimageai"), (["kcli: noai"], "noai"),
    (["otherbot: noai"], None), (["googlebot: noindex", "kcli: noimageai"], "noimageai"),
    (["noindex, nofollow"], None), (["unavailable_after: 25 Jun 2010 15:00:00 PST"], None), ([], None),
])
def test_x_robots_tag_opt_outs(values: list[str], expected: str | None) -> None:
    assert optout_directive(values, "kcli", ["noai", "noimageai"]) == expected


@pytest.mark.parametrize("url", ["http://[::1/broken.jpg", "http://example.org:99999/a.jpg"])
def test_malformed_urls_fail_with_a_reason_before_any_request(url: str) -> None:
    fetched = Fetcher(FetchConfig(allow_private=True)).fetch(url)
    assert (fetched.reason, fetched.rejected, fetched.retryable, fetched.data) == ("invalid_url", False, False, None)
