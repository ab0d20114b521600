"""Re-running an ingest: retryable failures are retried within a budget, everything else is kept; a run
killed with SIGKILL part way and run again equals an uninterrupted run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kdata.errors import ConfigError
from kdata.ingest.fetch import FetchConfig
from kdata.ingest.urls import UrlIngestConfig, ingest_urls
from kdata.manifest import open_manifest
from tests.helpers.cli import kcli_popen
from tests.helpers.kill import kill_after_done_shards
from tests.ingest import images
from tests.ingest.fault_server import Reply, image_route, serve


def _config(listing: Path, **fetch: object) -> UrlIngestConfig:
    return UrlIngestConfig(input=str(listing), shard_size=2, retry_failed=2,
                           fetch=FetchConfig(allow_private=True, retries=0, **fetch))  # type: ignore[arg-type]


def test_rerun_retries_retryable_failures_within_the_budget(tmp_path: Path) -> None:
    ok = images.jpeg(seed=1)
    routes = {
        "/ok.jpg": lambda n: Reply(body=ok),
        "/gone.jpg": lambda n: Reply(404, b"gone"),
        "/down.jpg": lambda n: Reply(503, b"busy"),
        "/back.jpg": lambda n: Reply(500, b"oops") if n == 0 else Reply(body=images.jpeg(seed=2)),
    }
    with serve(routes) as server:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(server.url(p) + "\n" for p in routes))
        outcomes = []
        for _ in range(4):
            result = ingest_urls(_config(listing), tmp_path / "out")
            table = result.manifest.read_table()
            keys = table.column("key").to_pylist()
            assert len(keys) == len(set(keys)) == 4  # a key is never written twice
            outcomes.append({r["url"].removeprefix(server.base): (r["status"], r["reason"], r["attempts"])
                             for r in table.to_pylist()})
        hits = dict(server.hits)
    assert outcomes[0] == {"/ok.jpg": ("ok", None, 1), "/gone.jpg": ("failed", "http_error:404", 1),
                           "/down.jpg": ("failed", "http_error:503", 1), "/back.jpg": ("failed", "http_error:500", 1)}
    assert outcomes[1]["/back.jpg"] == ("ok", None, 2)
    assert outcomes[1]["/down.jpg"] == ("failed", "http_error:503", 2)
    assert outcomes[3]["/down.jpg"] == ("failed", "http_error:503", 3)  # budget 2: three tries in all
    assert hits == {"/ok.jpg": 1, "/gone.jpg": 1, "/down.jpg": 3, "/back.jpg": 2}
    assert result.shards_skipped == 2 and result.shards_run == 0  # nothing left to retry on the last run


def test_a_changed_input_is_refused_on_resume(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("ftp://example.org/a.jpg\n")
    ingest_urls(_config(listing), tmp_path / "out")
    listing.write_text("ftp://example.org/b.jpg\n")
    with pytest.raises(ConfigError, match="the input changed"):
        ingest_urls(_config(listing), tmp_path / "out")


def _launch(listing: Path, out: Path) -> subprocess.Popen:
    return kcli_popen("ingest", "urls", str(listing), "--out", str(out), "--shard-size", "5", "--threads", "2",
                      "--allow-private", "--retries", "0", "--json", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _rows(path: Path) -> list[dict]:
    return sorted(open_manifest(path).read_table().to_pylist(), key=lambda r: r["key"])


def test_sigkill_part_way_then_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    routes = {f"/img/{i}.jpg": image_route(i, delay=0.06) for i in range(50)}
    routes["/img/missing.jpg"] = lambda n: Reply(404, b"")
    with serve(routes) as server:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(server.url(p) + "\n" for p in routes))
        killed = tmp_path / "killed"
        process = _launch(listing, killed)
        done = kill_after_done_shards(process, killed, timeout=60)
        assert 3 <= done < 11 and not (killed / "manifest.json").exists()
        hits_before = sum(server.hits.values())

        assert _launch(listing, killed).wait() == 0  # the same command again
        assert sum(server.hits.values()) - hits_before <= 51 - done * 5 + 2 * 5  # done shards are not fetched again
        assert _launch(listing, tmp_path / "clean").wait() == 0

    resumed, clean = _rows(killed), _rows(tmp_path / "clean")
    keys = [r["key"] for r in resumed]
    assert len(keys) == len(set(keys)) == 51
    assert [(r["status"], r["reason"]) for r in resumed] == [(r["status"], r["reason"]) for r in clean]
    assert resumed == clean
    assert not list(killed.rglob("*.tmp-*")), "a temporary file from the killed run was left as output"
