"""Manifest to training examples: buckets, the resize/crop policy, row accounting, batch plans, and bad
manifests failing before any model is loaded."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from kdata.errors import KcliError, ManifestSchemaError
from kdata.schema import Status
from ktrain.lora import loop
from ktrain.lora.batches import BatchPlan, drop_captions, step_generator
from ktrain.lora.data import (
    TrainingDataError,
    crop_box,
    load_training_data,
    make_buckets,
    nearest_bucket,
    open_training_manifest,
    preprocess,
)
from tests.helpers.manifests import write_rows
from tests.ktrain.lora.helpers import food_rows, tiny_config


def test_buckets_keep_the_area_and_the_aspect_limit() -> None:
    assert make_buckets(64, 16) == [(48, 80), (64, 64), (80, 48)]
    assert make_buckets(512, 64) == [(384, 640), (448, 576), (512, 512), (576, 448), (640, 384)]
    assert make_buckets(512, 64, enabled=False) == [(512, 512)]
    assert all(w * h <= 512 * 512 and max(w, h) / min(w, h) <= 2 for w, h in make_buckets(512, 64))


@pytest.mark.parametrize(("size", "bucket"), [((256, 256), (64, 64)), ((256, 320), (64, 64)),
                                              ((384, 256), (80, 48)), ((320, 240), (80, 48)), ((100, 200), (48, 80))])
def test_each_image_goes_to_the_bucket_nearest_its_aspect_ratio(size: tuple, bucket: tuple) -> None:
    assert nearest_bucket(*size, make_buckets(64, 16)) == bucket


def test_resize_covers_the_bucket_and_crops_the_centre() -> None:
    assert crop_box((200, 100), (64, 64)) == ((128, 64), (0, 32))  # height fits, 64 px overhang split evenly
    image = Image.new("RGB", (200, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 50, 100))  # a red left quarter: cropped away by a centre crop
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    pixels = preprocess(buffer.getvalue(), (64, 64))
    assert pixels.shape == (3, 64, 64) and pixels.min() >= -1 and pixels.max() <= 1
    assert pixels[0, :, 8].mean().item() < -0.9 and pixels[2, :, 8].mean().item() > 0.9  # blue at the left edge


def test_only_ok_rows_with_a_caption_and_an_image_are_used(tmp_path: Path) -> None:
    rows = food_rows()
    rows[0]["title"] = "  "
    rows[1]["status"], rows[1]["reason"] = Status.REJECTED, "nsfw"
    rows[2]["image_bytes"] = b"not an image"
    rows.append({**rows[3], "key": "no-bytes", "image_bytes": None, "image_path": "ab/missing.jpg"})
    manifest = write_rows(tmp_path / "m", rows)
    data = load_training_data(open_training_manifest(manifest.path, "title"), "title", make_buckets(64, 16), False)
    assert [e.key for e in data.examples] == ["food-19"]
    assert data.stats == {"rows": 5, "ok": 4, "used": 1, "skipped/no_caption": 1, "skipped/no_image": 1,
                          "skipped/undecodable": 1}
    example = data.examples[0]
    assert example.caption == "비빔밥 20" and example.bucket == (64, 64) and example.image is None


def _refuse_models(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("models were loaded although the manifest cannot be used")

    monkeypatch.setattr(loop, "setup", fail)


def test_missing_caption_column_fails_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_models(monkeypatch)
    manifest = write_rows(tmp_path / "m", food_rows())
    config = tiny_config(manifest, tmp_path / "out", tmp_path / "cache", caption_col="caption_ko")
    with pytest.raises(ManifestSchemaError, match=r"no caption column 'caption_ko'; choose one with "
                                                  r"--caption-col \(text columns: alt_text, caption_en, title\)"):
        loop.train_lora(config)
    assert not (tmp_path / "out").exists()


def test_manifest_without_usable_rows_fails_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_models(monkeypatch)
    rows = [{**r, "status": Status.REJECTED, "reason": "duplicate"} for r in food_rows()[:3]]
    rows.append({**food_rows()[3], "title": None})
    manifest = write_rows(tmp_path / "m", rows)
    config = tiny_config(manifest, tmp_path / "out", tmp_path / "cache")
    with pytest.raises(TrainingDataError, match="no usable rows for training: 4 rows, 1 with status ok, 1 of those "
                                                "without a 'title' caption"):
        loop.train_lora(config)
    with pytest.raises(KcliError, match="parallel manifest; LoRA training needs an image manifest"):
        _parallel_manifest(tmp_path / "p")


def _parallel_manifest(path: Path) -> None:
    import pyarrow as pa

    from kdata.manifest import Lineage, write_manifest
    from kdata.schema import PARALLEL, conform_table

    table = conform_table(pa.Table.from_pylist([{"key": "1", "ko": "한옥", "en": "hanok", "status": "ok"}]), PARALLEL)
    write_manifest(path, [table], PARALLEL, Lineage(stage="unit", config={}))
    open_training_manifest(path, "ko")


def test_batch_plan_is_one_bucket_per_batch_covers_each_epoch_and_repeats_by_seed(sample_manifest: Any) -> None:
    data = load_training_data(open_training_manifest(sample_manifest.path, "title"), "title",
                              make_buckets(64, 16), False)
    plan = BatchPlan(data.examples, batch_size=4, seed=3)
    batches = [plan.micro_batch(i) for i in range(plan.batches_per_epoch)]
    assert sorted(i for b in batches for i in b) == list(range(len(data.examples)))
    assert all(len({data.examples[i].bucket for i in b}) == 1 for b in batches)
    assert batches == [BatchPlan(data.examples, 4, seed=3).micro_batch(i) for i in range(len(batches))]
    assert plan.micro_batch(plan.batches_per_epoch) != batches[0] or plan.epoch(1) != plan.epoch(0)
    two = [BatchPlan(data.examples, 4, seed=3, num_processes=2, process_index=p) for p in (0, 1)]
    assert [two[0].micro_batch(0), two[1].micro_batch(0)] == batches[:2]  # processes share out one sequence


def test_caption_dropout_follows_the_step_seed() -> None:
    captions = [f"캡션 {i}" for i in range(1000)]
    dropped = drop_captions(captions, 0.1, step_generator(0, 5, 0, 0))
    assert 60 < dropped.count("") < 140
    assert dropped == drop_captions(captions, 0.1, step_generator(0, 5, 0, 0))
    assert drop_captions(captions, 0.0, torch.Generator()) == captions
