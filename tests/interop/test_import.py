"""``kcli import``: other tools' layouts become manifests whose rows and image bytes equal the source."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdata.errors import ConfigError
from kdata.interop.stage import ImportConfig, import_dataset
from kdata.manifest import open_manifest
from tests.helpers.cli import kcli
from tests.ingest.images import jpeg
from tests.interop import layouts


def _rows(out: Path) -> dict[str, dict]:
    return {r["key"]: r for r in open_manifest(out).read_table().to_pylist()}


@pytest.mark.parametrize("writer", [layouts.img2dataset_parquet, layouts.img2dataset_webdataset])
def test_img2dataset_output_becomes_a_manifest_with_the_same_rows_and_bytes(tmp_path: Path, writer) -> None:  # noqa: ANN001
    source = layouts.samples()
    writer(tmp_path / "i2d", source)
    result = import_dataset(ImportConfig(source=str(tmp_path / "i2d")), tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert sorted(rows) == [s["key"] for s in source] == ["000000000", "000000001", "000000002", "000000003"]
    for sample in source:
        row = rows[sample["key"]]
        assert (row["url"], row["caption"], row["input_status"]) == (sample["url"], sample["caption"], sample["status"])
        if sample["jpg"] is None:
            assert (row["status"], row["reason"], row["image_bytes"]) == ("failed", "img2dataset:failed_to_download",
                                                                          None)
            assert row["error_message"] == "HTTP Error 404: Not Found"
        else:
            assert row["status"] == "ok" and row["image_bytes"] == sample["jpg"]
            assert (row["width"], row["height"], row["format"]) == (sample["width"], 48, "JPEG")
    assert rows["000000000"]["caption_en"] == "a cat on a red sofa"
    assert rows["000000001"]["caption_ko"] == "한복을 입은 아이" and rows["000000001"]["caption_en"] is None
    assert rows["000000001"]["caption_ko_source"] == "import:img2dataset"
    assert rows["000000002"]["alt_text"] == "1234"  # no dominant script: kept as alt text
    assert result.manifest.descriptor["lineage"]["stage"] == "import"
    assert result.manifest.descriptor["lineage"]["config"]["format"] == "img2dataset"
    assert result.stats["total"] == 4 and result.stats["kept"] == 3


def test_webdataset_written_by_the_webdataset_library(tmp_path: Path) -> None:
    written = layouts.webdataset_shards(tmp_path / "wds", count=5, per_shard=3)
    assert sorted(p.name for p in (tmp_path / "wds").iterdir()) == ["train-000000.tar", "train-000001.tar"]
    import_dataset(ImportConfig(source=str(tmp_path / "wds")), tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert sorted(rows) == sorted(written)
    for key, sample in written.items():
        row = rows[key]
        assert row["image_bytes"] == sample["jpg"] and row["status"] == "ok"
        caption = row["caption_en"] or row["caption_ko"] or row["alt_text"]
        assert caption == sample["txt"]
        assert (row["index"], row["license"]) == (sample["json"]["index"], "cc-by")
    assert rows["sample0004"]["tar_file"] == "train-000001.tar"


def test_hugging_face_dataset_saved_to_disk(tmp_path: Path) -> None:
    import datasets
    from PIL import Image

    data = [jpeg(32, 24, seed=i) for i in range(3)]
    features = datasets.Features({"image": datasets.Image(), "text": datasets.Value("string"),
                                  "label": datasets.Value("int64")})
    train = datasets.Dataset.from_dict({"image": [{"bytes": d, "path": None} for d in data],
                                        "text": ["a red kite", "연 날리는 아이", "a blue kite"], "label": [0, 1, 2]},
                                       features=features)
    test = train.select([2])
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "hf"))
    result = import_dataset(ImportConfig(source=str(tmp_path / "hf")), tmp_path / "out")
    table = open_manifest(result.manifest).read_table().to_pylist()
    assert [(r["key"], r["split"], r["label"]) for r in table] == [
        ("000000000", "train", 0), ("000000001", "train", 1), ("000000002", "train", 2), ("000000003", "test", 2)]
    assert [r["image_bytes"] for r in table] == [*data, data[2]]
    assert table[1]["caption_ko"] == "연 날리는 아이" and table[0]["caption_en"] == "a red kite"
    assert Image.open(io.BytesIO(table[0]["image_bytes"])).size == (table[0]["width"], table[0]["height"]) == (32, 24)
    only = import_dataset(ImportConfig(source=str(tmp_path / "hf"), split="test"), tmp_path / "test-only")
    assert only.manifest.num_rows == 1


def test_kohya_folder_with_repeats_folders(tmp_path: Path) -> None:
    files = layouts.kohya_folder(tmp_path / "kohya")
    import_dataset(ImportConfig(source=str(tmp_path / "kohya")), tmp_path / "out")
    rows = {r["file_name"]: r for r in open_manifest(tmp_path / "out").read_table().to_pylist()}
    assert sorted(rows) == sorted(files)
    for rel, (data, caption) in files.items():
        row = rows[rel]
        assert row["image_bytes"] == data and row["status"] == "ok"
        assert (row["caption_en"] or row["caption_ko"] or row["alt_text"]) == caption
    assert (rows["10_hanbok/a.jpg"]["kohya_repeats"], rows["10_hanbok/a.jpg"]["kohya_concept"]) == (10, "hanbok")
    assert rows["3_harbour/d.jpg"]["key"] == "3_harbour/d" and rows["3_harbour/d.jpg"]["kohya_repeats"] == 3


def test_parquet_with_a_hugging_face_image_struct(tmp_path: Path) -> None:
    data = [jpeg(30, 30, seed=i) for i in range(2)]
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array([{"bytes": d, "path": f"{i}.jpg"} for i, d in enumerate(data)] + [None],
                                        image_type),
                      "prompt": ["a kite", "한 마리 새", "nothing"], "width": [1, 2, 3]})
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "train-00000-of-00001.parquet")
    import_dataset(ImportConfig(source=str(tmp_path / "data")), tmp_path / "out")
    rows = open_manifest(tmp_path / "out").read_table().to_pylist()
    assert [r["image_bytes"] for r in rows] == [*data, None]
    assert [(r["status"], r["reason"]) for r in rows] == [("ok", None), ("ok", None), ("failed", "no_image")]
    assert [r["input_width"] for r in rows] == [1, 2, 3] and rows[0]["width"] == 30  # the source's column kept aside
    assert rows[1]["caption_ko"] == "한 마리 새"


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_broken_samples_are_failed_rows_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "wds").mkdir()
    _tar(tmp_path / "wds" / "a.tar", {"good.jpg": jpeg(), "good.txt": b"fine", "junk.jpg": b"not an image at all",
                                      "badmeta.jpg": jpeg(seed=2), "badmeta.json": b"{broken",
                                      "onlytext.txt": b"no picture"})
    whole = _tar_bytes({"late.jpg": jpeg(seed=3)})
    (tmp_path / "wds" / "b.tar").write_bytes(whole[:1000])  # cut inside the image member (data from byte 512)
    result = import_dataset(ImportConfig(source=str(tmp_path / "wds")), tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert {k: (r["status"], r["reason"]) for k, r in rows.items()} == {
        "good": ("ok", None),
        "junk": ("failed", "not_an_image:unknown"),
        "badmeta": ("failed", "bad_sidecar:JSONDecodeError"),
        "onlytext": ("failed", "no_image"),
        "late": ("failed", "broken_archive:truncated"),
        "b.tar#broken": ("failed", "broken_archive:ReadError"),
    }
    assert result.stats["total"] == len(rows) and result.stats["kept"] == 1


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_rerun_resumes_and_gives_the_same_manifest(tmp_path: Path) -> None:
    layouts.img2dataset_parquet(tmp_path / "i2d", layouts.samples())
    first = import_dataset(ImportConfig(source=str(tmp_path / "i2d"), shard_size=2), tmp_path / "out")
    again = import_dataset(ImportConfig(source=str(tmp_path / "i2d"), shard_size=2), tmp_path / "out")
    assert (first.shards_run, again.shards_run, again.shards_skipped) == (2, 0, 2)
    assert again.manifest.fingerprint == first.manifest.fingerprint


def test_unknown_layouts_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.md").write_text("hello")
    with pytest.raises(ConfigError, match="cannot tell the layout of .*pass --format"):
        import_dataset(ImportConfig(source=str(tmp_path / "notes")), tmp_path / "out")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.jpg").write_bytes(jpeg())
    with pytest.raises(ConfigError, match="no same-stem .txt captions: use `kcli ingest folder`"):
        import_dataset(ImportConfig(source=str(tmp_path / "plain")), tmp_path / "out")
    with pytest.raises(ConfigError, match="cannot load the Hugging Face dataset someorg/nosuchdata: .*Offline"):
        import_dataset(ImportConfig(source="someorg/nosuchdata"), tmp_path / "out")  # a Hub id, tests are offline
    with pytest.raises(ConfigError, match="unknown --format 'tfrecord'"):
        ImportConfig(source="x", format="tfrecord")
    done = kcli("import", str(tmp_path / "notes"), "--out", str(tmp_path / "cli-out"))
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot tell the layout" in lines[0], done.stderr


def test_cli_import_json(tmp_path: Path) -> None:
    layouts.kohya_folder(tmp_path / "kohya")
    done = kcli("import", str(tmp_path / "kohya"), "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["rows"], result["stats"]["kept"]) == (4, 4)


def test_image_paths_in_data_are_read_only_inside_the_source(tmp_path: Path) -> None:
    (tmp_path / "src" / "imgs").mkdir(parents=True)
    inside = jpeg(24, 24, seed=5)
    (tmp_path / "src" / "imgs" / "a.jpg").write_bytes(inside)
    (tmp_path / "secret.jpg").write_bytes(jpeg(24, 24, seed=6))  # a file beside the source, not in it
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    paths = ["imgs/a.jpg", "../secret.jpg", str(tmp_path / "secret.jpg"), "imgs/missing.jpg"]
    table = pa.table({"image": pa.array([{"bytes": None, "path": p} for p in paths], image_type),
                      "text": ["one", "two", "three", "four"]})
    pq.write_table(table, tmp_path / "src" / "data.parquet")
    import_dataset(ImportConfig(source=str(tmp_path / "src")), tmp_path / "out")
    rows = open_manifest(tmp_path / "out").read_table().to_pylist()
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("ok", None), ("failed", "path_outside_source"), ("failed", "path_outside_source"), ("failed", "missing_file")]
    assert rows[0]["image_bytes"] == inside
