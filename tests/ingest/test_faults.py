"""Every fault the downloader must survive, served by a real local HTTP server, with the exact outcome."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kdata.ingest.fetch import FetchConfig
from kdata.ingest.urls import UrlIngestConfig, ingest_urls
from tests.ingest import images
from tests.ingest.fault_server import FaultServer, serve

# path -> (status, reason) that the row must end with
EXPECTED = {
    "/ok.jpg": ("ok", None),
    "/404.jpg": ("failed", "http_error:404"),
    "/500-then-200.jpg": ("ok", None),
    "/always-500.jpg": ("failed", "http_error:500"),
    "/429-retry-after.jpg": ("ok", None),
    "/slow-body.jpg": ("failed", "timeout:read"),
    "/drip.jpg": ("failed", "timeout:body"),
    "/reset.jpg": ("failed", "connection_error:reset"),
    "/loop-a.jpg": ("failed", "too_many_redirects"),
    "/loop-b.jpg": ("failed", "too_many_redirects"),
    "/redirect.jpg": ("ok", None),
    "/html.jpg": ("failed", "not_an_image:html"),
    "/truncated.jpg": ("failed", "undecodable:truncated"),
    "/empty.jpg": ("failed", "empty"),
    "/bomb.png": ("failed", "decompression_bomb"),
    "/animated.gif": ("ok", None),
    "/cmyk.jpg": ("ok", None),
    "/16bit.png": ("ok", None),
    "/palette-alpha.png": ("ok", None),
    "/image.webp": ("ok", None),
    "/vector.svg": ("failed", "unsupported:svg"),
    "/rotated.jpg": ("ok", None),
    "/too-large.jpg": ("failed", "too_large"),
    "/noai.jpg": ("rejected", "opt_out:noai"),
    "/noimageai-for-kcli.jpg": ("rejected", "opt_out:noimageai"),
    "/noai-for-another-bot.jpg": ("ok", None),
}


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[FaultServer, dict[str, dict], dict]:
    tmp = tmp_path_factory.mktemp("faults")
    with serve() as server:
        assert set(server.routes) == set(EXPECTED)
        (tmp / "urls.txt").write_text("".join(server.url(p) + "\n" for p in sorted(EXPECTED)))
        fetch = FetchConfig(allow_private=True, read_timeout=1.0, body_timeout=1.5, retries=1, backoff=0.05,
                            max_bytes=200_000)
        config = UrlIngestConfig(input=str(tmp / "urls.txt"), threads=len(EXPECTED), shard_size=100, fetch=fetch)
        result = ingest_urls(config, tmp / "out")
        rows = {r["url"].removeprefix(server.base): r for r in result.manifest.read_table().to_pylist()}
    return server, rows, result.stats


def test_every_url_ends_with_its_expected_status_and_reason(fault_run: tuple) -> None:
    _, rows, stats = fault_run
    assert {path: (r["status"], r["reason"]) for path, r in rows.items()} == EXPECTED
    assert stats == {
        "total": 26, "kept": 11, "dropped/opt_out": 2, "failed/connection_error": 1, "failed/decompression_bomb": 1,
        "failed/empty": 1, "failed/http_error": 2, "failed/not_an_image": 1, "failed/timeout": 2,
        "failed/too_large": 1, "failed/too_many_redirects": 2, "failed/undecodable": 1, "failed/unsupported": 1,
    }


def test_retries_are_bounded_and_only_for_retryable_failures(fault_run: tuple) -> None:
    server, rows, _ = fault_run
    assert server.hits["/404.jpg"] == 1  # a 404 is final
    assert server.hits["/500-then-200.jpg"] == 2 and rows["/500-then-200.jpg"]["http_status"] == 200
    assert server.hits["/always-500.jpg"] == 2  # retries=1: two requests, then the row fails
    assert rows["/always-500.jpg"]["http_status"] == 500
    assert server.hits["/reset.jpg"] == 2
    first, second = server.times["/429-retry-after.jpg"]
    assert second - first >= 0.95  # Retry-After: 1 was honoured, not the 0.05 s backoff
    assert server.hits["/loop-a.jpg"] + server.hits["/loop-b.jpg"] == 12  # 6 hops each, never retried


def test_opt_out_is_decided_from_headers_before_the_body(fault_run: tuple) -> None:
    server, rows, _ = fault_run
    # /noai.jpg sends its body 5 s after the headers with a 1 s read timeout: reading it would have
    # ended in timeout:read, so the opt-out was decided on the headers alone (and never retried).
    assert server.hits["/noai.jpg"] == 1 and rows["/noai.jpg"]["image_bytes"] is None
    assert rows["/noai-for-another-bot.jpg"]["status"] == "ok"  # scoped to another crawler: not for kcli
    assert all(agent.startswith("kcli/") and "noai" in agent for agent in server.user_agents)


def test_images_are_kept_as_sent_with_their_facts_recorded(fault_run: tuple) -> None:
    _, rows, _ = fault_run
    ok = rows["/ok.jpg"]
    sent = images.jpeg(seed=1)
    assert ok["image_bytes"] == sent and ok["sha256"] == hashlib.sha256(sent).hexdigest()
    assert (ok["width"], ok["height"], ok["format"], ok["attempts"]) == (96, 64, "JPEG", 1)
    assert len(ok["phash"]) == 16
    facts = {p: (rows[p]["format"], rows[p]["image_mode"], rows[p]["frame_count"]) for p in (
        "/animated.gif", "/cmyk.jpg", "/16bit.png", "/palette-alpha.png", "/image.webp")}
    assert facts == {"/animated.gif": ("GIF", "P", 3), "/cmyk.jpg": ("JPEG", "CMYK", 1),
                     "/16bit.png": ("PNG", "I;16", 1), "/palette-alpha.png": ("PNG", "P", 1),
                     "/image.webp": ("WEBP", "RGB", 1)}
    rotated = rows["/rotated.jpg"]
    assert (rotated["width"], rotated["height"]) == (64, 96)  # EXIF orientation 6 applied
    assert json.loads(rotated["exif_json"])["Make"] == "kcli-test-camera"
    assert rows["/redirect.jpg"]["final_url"].endswith("/ok.jpg")
    assert rows["/redirect.jpg"]["sha256"] == ok["sha256"]


def test_loopback_is_refused_without_allow_private(tmp_path: Path) -> None:
    with serve() as server:
        (tmp_path / "urls.txt").write_text(server.url("/ok.jpg") + "\nfile:///etc/passwd\nftp://example.org/a.jpg\n")
        result = ingest_urls(UrlIngestConfig(input=str(tmp_path / "urls.txt")), tmp_path / "out")
        assert not server.hits  # nothing was sent
    outcomes = [(r["status"], r["reason"]) for r in result.manifest.read_table().to_pylist()]
    assert outcomes == [("rejected", "blocked:loopback"), ("rejected", "blocked:scheme=file"),
                        ("rejected", "blocked:scheme=ftp")]
