"""CLIP embeddings through both backends, the embedding cache, and model scores as rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from kdata.filter.config import parse_filter_config
from kdata.filter.decide import decide
from kdata.filter.heads import random_aesthetic_state, random_nsfw_state
from kdata.filter.run import run_filter
from kdata.manifest import open_manifest
from kdata.runner import RunOptions
from tests.filter.images import decisions, encode, row, scene
from tests.helpers.manifests import write_rows

COLUMNS = ["key", "status", "reason", "clip_score", "clip_model", "clip_text_column", "embedding_ref"]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a Manifest
    root = tmp_path_factory.mktemp("clip")
    rows = [row(f"img-{i}", encode(scene(seed=i)), caption_en=f"a drawing number {i}",
                alt_text=None if i == 3 else f"그림 {i}") for i in range(6)]
    return write_rows(root / "in", rows, shards=2)


def _clip(backend: str, model: str, cache: Path, **extra: object) -> dict:
    return {"clip": {"backend": backend, "model": model, "cache_dir": str(cache),
                     "text_columns": ["alt_text", "caption_en"], "batch_size": 4}, **extra}


@pytest.mark.parametrize(("backend", "model"), [("open_clip", "tiny-open-clip"), ("hf", "tiny-clip")])
def test_threshold_change_reuses_cached_embeddings(tmp_path: Path, source, backend: str, model: str) -> None:  # noqa: ANN001
    cache = tmp_path / "cache"
    low = parse_filter_config(_clip(backend, model, cache, rules=[{"filter": "clip_score", "min": -1.0}]))
    first = run_filter(source.path, low, tmp_path / "low", report=False)
    assert first.stats["clip/encoded"] == 6 and first.stats.get("clip/cached", 0) == 0
    rows = open_manifest(tmp_path / "low").read_table(COLUMNS).to_pylist()
    assert {r["clip_model"] for r in rows} == {f"{backend}:{model}"}
    assert [r["clip_text_column"] for r in rows] == ["alt_text"] * 3 + ["caption_en"] + ["alt_text"] * 2
    assert all(-1 <= r["clip_score"] <= 1 and r["embedding_ref"].endswith(s) for r, s in
               zip(rows, source.read_table(["sha256"]).column("sha256").to_pylist()))
    median = float(np.median([r["clip_score"] for r in rows]))
    high = parse_filter_config(_clip(backend, model, cache, rules=[{"filter": "clip_score", "min": median}]))
    second = run_filter(source.path, high, tmp_path / "high", report=False)
    assert second.stats.get("clip/encoded", 0) == 0 and second.stats["clip/cached"] == 6
    expected = {r["key"]: ("ok", None) if r["clip_score"] >= median else ("rejected", "low_clip_score") for r in rows}
    assert decisions(tmp_path / "high") == expected


def test_text_model_folder_gives_the_same_scores_as_the_clip_text_tower(tmp_path: Path, source) -> None:  # noqa: ANN001
    from kdata.models import load_hf_clip

    model, processor = load_hf_clip("tiny-clip")
    model.text_model.save_pretrained(tmp_path / "text")  # a CLIPTextModel folder, as kcli's trainer writes
    processor.tokenizer.save_pretrained(tmp_path / "text")
    base = run_filter(source.path, parse_filter_config(_clip("hf", "tiny-clip", tmp_path / "c")), tmp_path / "a",
                      report=False)
    with_text = parse_filter_config(_clip("hf", "tiny-clip", tmp_path / "c"))
    with_text.clip.text_model = str(tmp_path / "text")
    run_filter(source.path, with_text, tmp_path / "b", report=False)
    scores = [open_manifest(p).read_table(["clip_score"]).column(0).to_pylist() for p in (base.manifest.path,
                                                                                          tmp_path / "b")]
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-5)


def test_aesthetic_and_safety_scores_drive_rules(tmp_path: Path, source) -> None:  # noqa: ANN001
    save_file(random_aesthetic_state(32, seed=1), str(tmp_path / "aesthetic.safetensors"))
    nsfw = random_nsfw_state(32)
    nsfw["linear_3.bias"] = torch.tensor([50.0])  # every image flagged: P(unsafe) ~ 1
    torch.save(nsfw, tmp_path / "nsfw.pth")
    config = parse_filter_config(_clip(
        "open_clip", "tiny-open-clip", tmp_path / "cache",
        aesthetic={"weights": str(tmp_path / "aesthetic.safetensors")},
        safety={"scorer": "clip-nsfw-head", "weights": str(tmp_path / "nsfw.pth")},
        rules=[{"filter": "nsfw", "max": 0.5, "unless": {"key": "img-2"}}]))
    run_filter(source.path, config, tmp_path / "out", report=False)
    assert {k for k, v in decisions(tmp_path / "out").items() if v == ("rejected", "nsfw")} == {
        "img-0", "img-1", "img-3", "img-4", "img-5"}
    table = open_manifest(tmp_path / "out").read_table(["aesthetic_score", "aesthetic_model", "nsfw_model"])
    assert table.column("aesthetic_model").to_pylist()[0] == "laion-aesthetic:aesthetic.safetensors"
    assert set(table.column("nsfw_model").to_pylist()) == {"clip-nsfw-head:nsfw.pth"}
    assert len(set(table.column("aesthetic_score").to_pylist())) == 6


def test_aesthetic_head_sized_for_another_clip_is_refused(tmp_path: Path, source) -> None:  # noqa: ANN001
    from kdata.errors import ConfigError

    save_file(random_aesthetic_state(768), str(tmp_path / "l14.safetensors"))
    config = parse_filter_config(_clip("open_clip", "tiny-open-clip", tmp_path / "cache",
                                       aesthetic={"weights": str(tmp_path / "l14.safetensors")}))
    with pytest.raises(ConfigError, match="takes 768-d CLIP embeddings but the configured CLIP model gives 32-d"):
        run_filter(source.path, config, tmp_path / "out", report=False, options=RunOptions(workers=1))


def test_nudenet_runs_offline_and_scores_in_unit_range(tmp_path: Path) -> None:
    from PIL import Image

    from kdata.filter.safety import load_scorer

    scorer = load_scorer("nudenet", "", None)
    scores = scorer.score(None, [encode(Image.new("RGB", (64, 64), "white")), encode(scene())])
    assert scorer.model_id == "nudenet:320n" and scores.dtype == np.float32
    assert scores[0] == 0.0 and 0.0 <= scores[1] <= 1.0


def test_percentile_rule_keeps_the_top_share_in_its_scope(tmp_path: Path) -> None:
    rows = [{"key": f"r{i}", "status": "ok", "clip_score": i / 10, "category": "a" if i <= 10 else "b"}
            for i in range(1, 13)]
    scored = write_rows(tmp_path / "scored", rows)
    config = parse_filter_config({"clip": {"model": "tiny-clip"}, "dedup": {"exact_bytes": False},
                                  "rules": [{"filter": "clip_score", "top_percent": 30, "when": {"category": "a"}}]})
    result = decide(scored, config)
    assert result.reasons == {f"r{i}": "low_clip_score" for i in range(1, 8)}
    assert result.thresholds == {"clip_score": pytest.approx(0.73)}
