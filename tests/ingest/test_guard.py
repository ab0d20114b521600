"""The network guard on literal addresses, schemes and URL forms (no connection is ever made here)."""

from __future__ import annotations

import pytest

from kdata.ingest.fetch import FetchConfig, Fetcher
from kdata.ingest.guard import BlockedUrl, HostNotFound, Target, address_class, check_url
from kdata.ingest.robots import optout_directive


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fd12::1", "private"),
    ("100.64.0.1", "private"), ("169.254.169.254", "metadata"), ("169.254.1.1", "link_local"),
    ("fe80::1", "link_local"), ("0.0.0.0", "reserved"), ("224.0.0.1", "multicast"),
    ("::ffff:169.254.169.254", "metadata"), ("2002:7f00:1::1", "loopback"), ("2002:a00:1::1", "private"),
    ("fec0::1", "private"), ("::", "reserved"), ("2002:808:808::1", None),
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


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:18080\\@8.8.8.8/admin", "http://8.8.8.8\\@127.0.0.1/", "http://8.8.8.8/a\\b.jpg",
    "http://user@8.8.8.8/", "http://user:pw@8.8.8.8/", "http://@8.8.8.8/", "http://8.8.8.8%2f@8.8.8.8/",
    "http://8.8.8.8/a\tb", "http://8.8.8.8/\r\nX-Injected: 1", "http://8.8.8.8\x00.example/", " http://8.8.8.8/",
    "http://8.8.8.8/\n", "http://%38.8.8.8/", "http://[fe80::1%25eth0]/", "http://a.example;8.8.8.8/",
])
def test_ambiguous_urls_are_refused_before_any_lookup(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.getaddrinfo", _no_lookup)
    for allow_private in (False, True):  # allow_private lifts the address check, never this one
        with pytest.raises(BlockedUrl, match="^blocked:ambiguous_url$"):
            check_url(url, allow_private)


def test_the_target_is_what_the_client_will_send(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.getaddrinfo", _no_lookup)
    assert check_url("HTTP://8.8.8.8/a b.jpg?q=1#frag") == Target("http", "8.8.8.8", 80, "/a%20b.jpg?q=1", ("8.8.8.8",))
    assert check_url("https://[2606:4700::1111]:8443/") == Target("https", "2606:4700::1111", 8443, "/",
                                                                  ("2606:4700::1111",))


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"public.test": ["8.8.8.8"], "mixed.test": ["8.8.8.8", "10.0.0.1"], "gone.test": None}
    monkeypatch.setattr("socket.getaddrinfo", _fake_dns(answers))
    assert check_url("http://public.test/").addresses == ("8.8.8.8",)
    with pytest.raises(BlockedUrl, match="^blocked:private$"):
        check_url("http://mixed.test/")
    assert check_url("http://mixed.test/", allow_private=True).addresses == ("8.8.8.8", "10.0.0.1")
    with pytest.raises(HostNotFound, match="^dns_error$"):
        check_url("http://gone.test/")


def test_allow_private_lifts_the_address_check_but_not_the_scheme_check() -> None:
    assert check_url("http://127.0.0.1:9/a.jpg", allow_private=True).addresses == ("127.0.0.1",)
    with pytest.raises(BlockedUrl, match="blocked:scheme=file"):
        check_url("file:///etc/passwd", allow_private=True)


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


def test_an_unresolvable_host_fails_retryably_without_a_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.getaddrinfo", _fake_dns({"gone.test": None}))
    sleeps: list[float] = []
    fetched = Fetcher(FetchConfig(retries=2), sleep=sleeps.append).fetch("http://gone.test/a.jpg")
    assert (fetched.reason, fetched.rejected, fetched.retryable, fetched.attempts) == ("dns_error", False, True, 1)
    assert sleeps == []  # retried by a later run, not by backing off now


def _no_lookup(*args: object, **kwargs: object) -> list[object]:
    raise AssertionError(f"unexpected look-up {args}")


def _fake_dns(answers: dict[str, list[str] | None]) -> object:
    import socket

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        if host not in answers:
            raise AssertionError(f"unexpected look-up of {host}")
        if answers[host] is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host] or []]

    return getaddrinfo
