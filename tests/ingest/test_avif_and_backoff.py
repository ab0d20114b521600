"""AVIF decoded like any other format; retries back off with full jitter, honouring Retry-After."""

from __future__ import annotations

import io
import random
import threading
from pathlib import Path

from PIL import Image, features

from kdata.ingest.fetch import FetchConfig, Fetcher, backoff_delay
from kdata.ingest.imaging import ImageOptions, process_image
from kdata.ingest.urls import UrlIngestConfig, ingest_urls
from tests.ingest import images
from tests.ingest.fault_server import Reply, serve


def test_pillow_here_decodes_avif() -> None:
    # The project pins a Pillow whose wheels carry libavif; if this fails the build lost it.
    assert features.check("avif")


def test_an_avif_is_decoded_resized_and_hashed() -> None:
    data = images.avif()
    kept = process_image(data, ImageOptions())
    assert (kept.format, kept.width, kept.height, kept.data) == ("AVIF", 80, 60, data)  # original bytes kept
    small = process_image(data, ImageOptions("keep_ratio", 30, encode_format="jpeg"))
    with Image.open(io.BytesIO(small.data)) as img:
        assert (img.format, img.size) == ("JPEG", (40, 30))
    assert (small.original_width, small.original_height, small.mode) == (80, 60, "RGB")


def test_an_avif_url_is_ingested(tmp_path: Path) -> None:
    body = images.avif()
    with serve({"/a.avif": lambda n: Reply(body=body, headers={"Content-Type": "image/avif"})}) as server:
        listing = tmp_path / "urls.txt"
        listing.write_text(server.url("/a.avif") + "\n")
        config = UrlIngestConfig(input=str(listing), fetch=FetchConfig(allow_private=True, retries=0))
        rows = ingest_urls(config, tmp_path / "out").manifest.read_table().to_pylist()
    assert [(r["status"], r["reason"], r["width"], r["height"]) for r in rows] == [("ok", None, 80, 60)]
    assert rows[0]["image_bytes"] == body


def test_backoff_is_full_jitter_within_the_doubling_bound() -> None:
    rng = random.Random(7)
    for attempt, bound in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 20.0)]:
        delays = [backoff_delay(attempt, 0.5, 20.0, None, rng) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in delays)
        assert max(delays) > 0.8 * bound and min(delays) < 0.2 * bound  # spread over the whole range
        assert len(set(delays)) == 200


def test_retry_after_is_a_floor_with_jitter_above_it() -> None:
    rng = random.Random(3)
    delays = [backoff_delay(0, 0.5, 20.0, 2.0, rng) for _ in range(100)]
    assert all(2.0 <= d <= 2.5 for d in delays) and len(set(delays)) == 100


def test_threads_that_meet_the_same_429_wait_different_times() -> None:
    sleeps: dict[str, list[float]] = {}
    fetcher = Fetcher(FetchConfig(allow_private=True, retries=3, backoff=0.4), rng=random.Random(11),
                      sleep=lambda s: sleeps.setdefault(threading.current_thread().name, []).append(s))
    with serve({"/busy.jpg": lambda n: Reply(429, b"slow down")}) as server:
        url = server.url("/busy.jpg")
        threads = [threading.Thread(target=fetcher.fetch, args=(url,), name=f"t{i}") for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(sleeps) == ["t0", "t1", "t2", "t3"]
    for waits in sleeps.values():  # three retries, each within its doubling bound
        assert len(waits) == 3 and all(0 <= w <= 0.4 * 2**i for i, w in enumerate(waits))
    first_waits = [waits[0] for waits in sleeps.values()]
    assert len(set(first_waits)) == 4  # no two threads retry in lockstep
