"""Real stages on the Ray executor give what the local executor gives: ``kcli ingest urls`` / ``ingest folder``
and ``kcli filter`` (tiny CLIP, NudeNet, dedup) on the same inputs keep the same rows with the same reasons
and scores; a Ray ingest killed part way and run again resumes and equals an uninterrupted local run.

The tests use the package's local Ray with 2 CPUs (``ray_address`` in tests/runner/conftest.py): the CLI
runs as a subprocess joining it through ``--ray-address``.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kdata.bundled import bundled_path
from kdata.filter.config import DEFAULT_CONFIG, load_filter_config
from kdata.filter.run import run_filter
from kdata.ingest.fetch import FetchConfig
from kdata.ingest.folder import FolderIngestConfig, ingest_folder
from kdata.ingest.urls import UrlIngestConfig, ingest_urls
from kdata.manifest import open_manifest
from kdata.runner import RunOptions
from kdata.samples import SAMPLE_IMAGES, write_sample_manifest
from tests.helpers.cli import kcli, kcli_popen
from tests.helpers.kill import kill_after_done_shards
from tests.ingest.fault_server import default_routes, image_route, serve

DEMO_FILTER = bundled_path("filters/demo.toml")
# Routes whose replies never change with the number of hits, so two runs against one server see the same web.
STATELESS = ("/ok.jpg", "/404.jpg", "/always-500.jpg", "/reset.jpg", "/loop-a.jpg", "/redirect.jpg", "/html.jpg",
             "/truncated.jpg", "/empty.jpg", "/bomb.png", "/animated.gif", "/cmyk.jpg", "/16bit.png",
             "/palette-alpha.png", "/image.webp", "/vector.svg", "/rotated.jpg", "/too-large.jpg",
             "/noimageai-for-kcli.jpg", "/noai-for-another-bot.jpg")


def on_ray(ray_address: str) -> list[str]:
    return ["--executor", "ray", "--ray-address", ray_address, "--workers", "2", "--json"]


def rows_by_key(path: Path, drop: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    table = open_manifest(path).read_table()
    return {row["key"]: {k: v for k, v in row.items() if k not in drop} for row in table.to_pylist()}


def assert_same_rows(ray_rows: dict[str, dict[str, Any]], local_rows: dict[str, dict[str, Any]]) -> None:
    """Same keys, same decisions, same values; floats equal up to thread-count rounding (an actor has 1 thread)."""
    assert ray_rows.keys() == local_rows.keys()
    for key, local in local_rows.items():
        ray = ray_rows[key]
        assert ray.keys() == local.keys(), key
        for column, value in local.items():
            if isinstance(value, float) and not math.isnan(value):
                assert ray[column] == pytest.approx(value, rel=1e-5, abs=1e-6), (key, column)
            elif isinstance(value, list) and value and isinstance(value[0], float):
                assert ray[column] == pytest.approx(value, rel=1e-4, abs=1e-6), (key, column)
            else:
                assert ray[column] == value or (value != value and ray[column] != ray[column]), (key, column)


def test_ingest_urls_on_ray_keeps_and_fails_the_same_rows_as_local(tmp_path: Path, ray_address: str) -> None:
    routes = {path: route for path, route in default_routes().items() if path in STATELESS or path == "/loop-b.jpg"}
    with serve(routes) as server:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(server.url(path) + "\n" for path in STATELESS), encoding="utf-8")
        common = ["--shard-size", "4", "--retries", "0", "--allow-private", "--timeout", "5"]
        local = kcli("ingest", "urls", str(listing), "--out", str(tmp_path / "local"), "--json", *common,
                     timeout=300)
        ray = kcli("ingest", "urls", str(listing), "--out", str(tmp_path / "ray"), *common, *on_ray(ray_address),
                   timeout=300)
    assert local.returncode == 0 and ray.returncode == 0, local.stderr + ray.stderr
    local_result, ray_result = json.loads(local.stdout), json.loads(ray.stdout)
    assert ray_result["stats"] == local_result["stats"] and ray_result["shards_run"] == 5
    assert local_result["stats"]["total"] == len(STATELESS) and 0 < local_result["stats"]["kept"] < len(STATELESS)
    ray_rows, local_rows = rows_by_key(tmp_path / "ray"), rows_by_key(tmp_path / "local")
    assert_same_rows(ray_rows, local_rows)
    reasons = {row["url"].removeprefix(server.base): row["reason"] for row in local_rows.values()}
    assert reasons["/404.jpg"] == "http_error:404" and reasons["/ok.jpg"] is None
    assert open_manifest(tmp_path / "ray").lineage_chain[0]["stage"] == "ingest-urls"


def test_ingest_folder_on_ray_equals_local(tmp_path: Path, ray_address: str) -> None:
    config = FolderIngestConfig(root=str(SAMPLE_IMAGES), shard_size=5)
    local = ingest_folder(config, tmp_path / "local")
    ray = ingest_folder(config, tmp_path / "ray", options=RunOptions(executor="ray", workers=2))
    assert ray.stats == local.stats and ray.shards_run == 5
    assert ray.manifest.read_table().equals(local.manifest.read_table())


def _filter_config_file(tmp_path: Path, name: str) -> Path:
    """demo.toml with an embedding cache of the run's own, so the Ray run computes every embedding itself."""
    text = DEMO_FILTER.read_text(encoding="utf-8")
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace("[clip]\n", f'[clip]\ncache_dir = "{tmp_path / (name + "-cache")}"\n', 1),
                    encoding="utf-8")
    return path


@pytest.mark.slow
def test_filter_on_ray_keeps_the_same_rows_with_the_same_reasons_and_scores(tmp_path: Path,
                                                                            ray_address: str) -> None:
    parent = write_sample_manifest(tmp_path / "samples", shards=3)
    local = run_filter(parent.path, load_filter_config(_filter_config_file(tmp_path, "local")), tmp_path / "local",
                       report=False)
    done = kcli("filter", str(parent.path), "--config", str(_filter_config_file(tmp_path, "ray")),
                "--out", str(tmp_path / "ray"), *on_ray(ray_address), timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["stats"] == local.stats and result["shards_run"] == 3
    assert local.stats["kept"] < local.stats["total"] == 22 and local.stats["clip/encoded"] > 20
    # The lineage (and so the fingerprint's chain) names the configs' own cache paths: compare rows, not files.
    ray_rows, local_rows = rows_by_key(tmp_path / "ray"), rows_by_key(tmp_path / "local")
    assert_same_rows(ray_rows, local_rows)
    kept = {key for key, row in local_rows.items() if row["status"] == "ok"}
    assert kept == {key for key, row in ray_rows.items() if row["status"] == "ok"}
    assert {(row["reason"] or "").split("=")[0] for row in local_rows.values()} >= {"", "duplicate_of", "blur"}
    assert all(row["nsfw_score"] is not None for row in local_rows.values())
    assert (tmp_path / "ray" / "report" / "summary.json").exists()


def test_default_filter_config_runs_on_ray_without_a_gpu_request(tmp_path: Path, ray_address: str) -> None:
    """The packaged config scores no model, so its workers never ask for the (logical) GPU."""
    from kdata.filter.stage import ScoreStage

    config = load_filter_config(DEFAULT_CONFIG)
    assert not ScoreStage.wants_gpu(config)
    assert ScoreStage.wants_gpu(load_filter_config(DEMO_FILTER))  # device "auto": a GPU where one exists
    parent = write_sample_manifest(tmp_path / "samples")
    ray = run_filter(parent.path, config, tmp_path / "ray", report=False, options=RunOptions(executor="ray", workers=2))
    local = run_filter(parent.path, config, tmp_path / "local", report=False)
    assert ray.stats == local.stats
    assert ray.manifest.read_table().equals(local.manifest.read_table())


def _slow_web(count: int) -> dict[str, Any]:
    return {f"/img-{i:02d}.jpg": image_route(seed=i, delay=0.15) for i in range(count)}


def _ingest_urls(listing: Path, out: Path, ray_address: str) -> subprocess.Popen[str]:
    return kcli_popen("ingest", "urls", str(listing), "--out", str(out), "--shard-size", "2", "--threads", "1",
                      "--allow-private", *on_ray(ray_address), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                      text=True)


@pytest.mark.slow
def test_sigkill_of_a_ray_ingest_part_way_then_rerun_resumes(tmp_path: Path, ray_address: str) -> None:
    with serve(_slow_web(24)) as server:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(server.url(f"/img-{i:02d}.jpg") + "\n" for i in range(24)), encoding="utf-8")
        killed = tmp_path / "killed"
        process = _ingest_urls(listing, killed, ray_address)
        done_before = kill_after_done_shards(process, killed, timeout=120)
        assert 3 <= done_before < 12 and not (killed / "manifest.json").exists()

        rerun = _ingest_urls(listing, killed, ray_address)
        stdout, _ = rerun.communicate(timeout=180)
        assert rerun.returncode == 0
        counts = json.loads(stdout)
        assert counts["shards_skipped"] >= done_before and counts["shards_run"] + counts["shards_skipped"] == 12
        clean = ingest_urls(UrlIngestConfig(input=str(listing), shard_size=2, fetch=FetchConfig(allow_private=True)),
                            tmp_path / "clean")
    resumed = open_manifest(killed).read_table()
    assert resumed.num_rows == 24 and set(resumed.column("status").to_pylist()) == {"ok"}
    assert_same_rows(rows_by_key(killed), rows_by_key(clean.manifest.path))
    assert not list((killed / "data").glob("*.tmp-*")), "a temporary file from the killed run was left as output"


def test_caption_asks_for_a_gpu_only_where_a_model_may_use_one() -> None:
    from kdata.caption.config import CaptionConfig, CaptionPlan, RerankConfig
    from kdata.caption.stage import CaptionStage

    captioner = {"backend": "blip", "model": "tiny-captioner", "device": "cpu"}
    assert not CaptionStage.wants_gpu(CaptionPlan(CaptionConfig(en=[captioner])))
    assert CaptionStage.wants_gpu(CaptionPlan(CaptionConfig(en=[{**captioner, "device": "cuda"}])))
    assert CaptionStage.wants_gpu(CaptionPlan(CaptionConfig(en=[{**captioner, "device": "auto"}])))
    rerank = RerankConfig(model="tiny-clip", device="cuda:1")
    assert CaptionStage.wants_gpu(CaptionPlan(CaptionConfig(en=[captioner], rerank=rerank)))
