"""``kcli publish --to``: the folder loads with ``datasets``, its card matches its files, exports resume."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kdata.manifest import Manifest
from kdata.publish import PublishConfig, PublishError, export_dataset
from tests.helpers.cli import REPO, kcli
from tests.publish.manifests import FAILED, GPS_KEY, GPS_TEXT, REJECTED, ROTATED_KEY, write_filtered_manifest


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("publish")


@pytest.fixture(scope="module")
def manifest(workdir: Path) -> Manifest:
    return write_filtered_manifest(workdir / "manifests")


@pytest.fixture(scope="module")
def exported(manifest: Manifest, workdir: Path) -> Path:
    """One CLI export shared by the tests that only read it."""
    out = workdir / "hub"
    done = kcli("publish", str(manifest.path), "--to", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["export"]["rows"] == 17
    return out


def test_export_loads_with_datasets_rows_features_images_and_captions(
    exported: Path, manifest: Manifest, tmp_path: Path
) -> None:
    import datasets

    ds = datasets.load_dataset(str(exported), split="train", cache_dir=str(tmp_path / "hf-cache"))
    ok_rows = {r["key"]: r for r in manifest.read_table(only_ok=True).to_pylist()}
    assert ds.num_rows == len(ok_rows) == 22 - len(REJECTED) - len(FAILED)
    assert isinstance(ds.features["image"], datasets.Image)
    assert ds.features["clip_score"] == datasets.Value("float32")
    assert {"status", "reason", "image_bytes", "image_path"}.isdisjoint(ds.column_names)
    for row in ds:
        row["image"].load()  # every image decodes
        source = ok_rows[row["key"]]
        assert (row["caption_ko"], row["caption_en"]) == (source["caption_ko"], source["caption_en"])
        assert row["url"] is None  # the samples' file: URLs would reveal local paths
    by_key = {row["key"]: row for row in ds}
    assert set(by_key) == set(ok_rows)
    rotated = by_key[ROTATED_KEY]
    assert rotated["image"].size == (320, 256) and (rotated["width"], rotated["height"]) == (320, 256)


def test_card_parses_and_its_yaml_matches_the_data_files(exported: Path) -> None:
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(exported / "README.md")
    data_files = sorted(p.relative_to(exported).as_posix() for p in (exported / "data").glob("*"))
    assert data_files == ["data/train-00000-of-00001.parquet"]
    (config,) = card.data.configs
    patterns = [entry["path"] for entry in config["data_files"] if entry["split"] == "train"]
    matched = sorted({f for f in data_files for pattern in patterns if fnmatch.fnmatch(f, pattern)})
    assert matched == data_files
    info = DatasetInfosDict.from_dataset_card_data(card.data)["default"]
    from datasets import Features

    assert info.features == Features.from_arrow_schema(pq.read_schema(exported / data_files[0]))
    assert info.splits["train"].num_examples == sum(pq.ParquetFile(exported / f).metadata.num_rows for f in data_files)
    assert info.download_size == sum((exported / f).stat().st_size for f in data_files)
    assert card.data.language == ["ko", "en"] and card.data.size_categories == ["n<1K"]
    assert card.data.task_categories == ["text-to-image", "image-to-text"]
    assert card.data.license == "other" and card.data.license_name == "mixed-licenses"
    text = card.text
    assert "| rejected | blurry | 2 |" in text and "| failed | undecodable | 1 |" in text
    assert "| museum-archive | CC-BY-4.0 | 4 |" in text and "| kcli-samples | CC0-1.0 | 13 |" in text
    assert "| filter | clip_model | tiny-clip |" in text and "| caption | translator | tiny-translator-en-ko |" in text
    assert "![Sample images](sample_grid.jpg)" in text and (exported / "sample_grid.jpg").stat().st_size > 1000
    assert "그릇에 담긴 비빔밥" in text  # a Korean caption in the examples table


def test_exif_is_stripped_by_default_and_kept_on_request(exported: Path, manifest: Manifest, tmp_path: Path) -> None:
    published = b"".join(p.read_bytes() for p in (exported / "data").glob("*.parquet"))
    assert GPS_TEXT.encode() not in published
    record = json.loads((exported / "kcli_export.json").read_text())
    assert record["counters"]["exif/stripped_lossless"] == 1 and record["counters"]["exif/reencoded"] == 1
    kept = export_dataset(manifest.path, tmp_path / "kept", PublishConfig(keep_exif=True))
    kept_bytes = b"".join((kept.path / f["path"]).read_bytes() for f in kept.files if f["path"].startswith("data/"))
    assert GPS_TEXT.encode() in kept_bytes and kept.rows == 17
    assert GPS_KEY.encode() in kept_bytes


def test_no_local_path_of_the_publisher_goes_out(exported: Path, workdir: Path) -> None:
    for path in exported.rglob("*"):
        if path.is_file():
            assert str(workdir).encode() not in path.read_bytes(), path
    lineage = json.loads((exported / "kcli_export.json").read_text())["lineage"]
    assert [step["stage"] for step in lineage] == ["caption", "filter"]
    assert lineage[0]["config"]["input"] == "<local>/filtered"


def test_size_limited_shards_resume_after_an_interruption_to_identical_files(
    manifest: Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = PublishConfig(shard_size_mb=0.02, pretty_name="resume")  # ~20 KB: a few images per file
    reference = export_dataset(manifest.path, tmp_path / "reference", config)
    names = [f["path"] for f in reference.files if f["path"].startswith("data/")]
    assert len(names) >= 4 and names[0] == f"data/train-00000-of-{len(names):05d}.parquet"
    assert sum(f["rows"] for f in reference.files if "rows" in f) == 17

    import kdata.publish.export as export_module

    calls = {"n": 0}
    real = export_module.convert_batch

    def crash_after_three(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(export_module, "convert_batch", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        export_dataset(manifest.path, tmp_path / "resumed", config)
    assert not (tmp_path / "resumed").exists()  # never half-written
    progress = json.loads((tmp_path / ".resumed.partial" / "_progress.json").read_text())
    assert len(progress["parts"]) >= 1
    monkeypatch.setattr(export_module, "convert_batch", real)
    resumed = export_dataset(manifest.path, tmp_path / "resumed", config)
    assert [(f["path"], f["sha256"]) for f in resumed.files] == [(f["path"], f["sha256"]) for f in reference.files]
    assert resumed.counters == reference.counters
    assert not (tmp_path / ".resumed.partial").exists()


def test_rerun_is_up_to_date_and_a_different_export_needs_overwrite(manifest: Manifest, tmp_path: Path) -> None:
    out = tmp_path / "hub"
    export_dataset(manifest.path, out, PublishConfig())
    assert export_dataset(manifest.path, out, PublishConfig()).up_to_date
    with pytest.raises(PublishError, match="--overwrite"):
        export_dataset(manifest.path, out, PublishConfig(keep_exif=True))
    replaced = export_dataset(manifest.path, out, PublishConfig(keep_exif=True), overwrite=True)
    assert not replaced.up_to_date and "exif/unchanged" not in replaced.counters
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    with pytest.raises(PublishError, match="not a kcli export"):
        export_dataset(manifest.path, foreign, PublishConfig(), overwrite=True)
    assert (foreign / "mine.txt").read_text() == "keep me"


def test_unreadable_ok_rows_are_left_out_and_counted(tmp_path: Path) -> None:
    import pyarrow as pa

    from kdata.manifest import Lineage, write_manifest
    from kdata.samples import sample_rows
    from kdata.schema import IMAGE, conform_table

    rows = sample_rows()[:3]
    rows[1]["image_bytes"] = b"\xff\xd8\xff\xe1\x00"  # ok according to the manifest, but broken
    source = write_manifest(tmp_path / "in", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                            Lineage(stage="unit", config={}))
    result = export_dataset(source.path, tmp_path / "out", PublishConfig())
    assert result.rows == 2 and result.counters["skipped/undecodable"] == 1
    keys = pq.read_table(tmp_path / "out" / "data" / "train-00000-of-00001.parquet", columns=["key"])
    assert keys.column("key").to_pylist() == [rows[0]["key"], rows[2]["key"]]


def test_cli_errors_are_one_line(manifest: Manifest, tmp_path: Path, sample_manifest: Manifest) -> None:
    cases = [
        (["publish", str(manifest.path)], "say where to publish"),
        (["publish", str(manifest.path), "--to", str(tmp_path / "x"), "--private"], "--private applies"),
        (["publish", str(manifest.path), "--repo-id", "no-slash"], "--repo-id must look like ORG/NAME"),
        (["publish", str(manifest.path), "--to", str(tmp_path / "x"), "--shard-size-mb", "0"], "must be positive"),
        (["publish", str(tmp_path / "missing"), "--to", str(tmp_path / "x")], "no such manifest"),
    ]
    for args, message in cases:
        done = kcli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip().splitlines() == [done.stderr.strip()] and message in done.stderr, done.stderr


def test_templates_ship_as_package_data() -> None:
    import tomllib

    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    templates = [p for package in ("publish", "report") for p in (REPO / "kdata" / package / "templates").iterdir()]
    assert len(templates) == 4
    for template in templates:
        assert any(fnmatch.fnmatch(template.name, pattern) for pattern in globs), template.name


def test_blob_stored_images_are_exported_byte_for_byte_and_sized_from_their_files(tmp_path: Path) -> None:
    import pyarrow as pa

    from kdata.blobs import BlobStore
    from kdata.manifest import Lineage, write_manifest
    from kdata.samples import sample_rows
    from kdata.schema import IMAGE, conform_table

    store = BlobStore(tmp_path / "in" / "blobs")
    rows = sample_rows()[:6]
    originals = {}
    for row in rows:
        originals[row["key"]] = row.pop("image_bytes")
        row["image_path"] = store.put(originals[row["key"]], "JPEG", row["sha256"])
    source = write_manifest(tmp_path / "in", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                            Lineage(stage="unit", config={}), blob_dirs=[store.root])
    limit = 0.015
    result = export_dataset(source.path, tmp_path / "out", PublishConfig(shard_size_mb=limit))
    data_files = [f for f in result.files if f["path"].startswith("data/")]
    expected, room = [], 0  # greedy packing of the blob files' sizes into files of at most `limit` MB
    for size in (len(originals[row["key"]]) for row in rows):
        if expected and room + size <= limit * 2**20:
            expected[-1], room = expected[-1] + 1, room + size
        else:
            expected, room = [*expected, 1], size
    assert [f["rows"] for f in data_files] == expected and len(expected) > 1
    published = pa.concat_tables([pq.read_table(tmp_path / "out" / f["path"]) for f in data_files])
    images = dict(zip(published.column("key").to_pylist(), published.column("image").to_pylist()))
    assert {k: v["bytes"] for k, v in images.items()} == originals
    assert images[rows[0]["key"]]["path"] == f"{rows[0]['key']}.jpg"
