"""``kcli export``: webdataset shards that the webdataset library reads back, kohya folders that train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdata.errors import ConfigError
from kdata.interop.export import ExportConfig, export_manifest
from kdata.interop.stage import ImportConfig, import_dataset
from kdata.runner import RunOptions
from tests.helpers.cli import kcli
from tests.helpers.manifests import write_rows
from tests.ingest.images import encode, jpeg, picture


def _manifest(path: Path, count: int = 6):  # noqa: ANN202 - a Manifest
    rows = []
    for index in range(count):
        data = jpeg(48, 40, seed=index) if index % 3 else encode(picture(40, 40, seed=index), "PNG")
        status = "rejected" if index == 4 else "ok"
        rows.append({"key": f"img.{index:03d}" if index == 1 else f"k/{index:03d}", "source": "unit",
                     "image_bytes": data, "format": "JPEG" if index % 3 else "PNG", "width": 48, "height": 40,
                     "status": status, "reason": "blur" if status == "rejected" else None,
                     "caption_ko": f"한복 {index}" if index % 2 else None, "caption_en": f"a hanbok {index}",
                     "category": "photo"})
    return write_rows(path, rows, shards=2), rows


def test_webdataset_export_reads_back_with_the_webdataset_library(tmp_path: Path) -> None:
    import webdataset as wds

    manifest, rows = _manifest(tmp_path / "m")
    result = export_manifest(manifest, tmp_path / "wds", ExportConfig(format="webdataset", shard_size_mb=0.004))
    assert len(result.files) > 1 and result.pattern == f"shard-{{000000..{len(result.files) - 1:06d}}}.tar"
    urls = [str(tmp_path / "wds" / name) for name in result.files]
    read = {s["__key__"]: s for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False)}
    kept = [r for r in rows if r["status"] == "ok"]
    assert sorted(read) == sorted(r["key"].replace(".", "_") for r in kept)  # a dot would split the key
    for row in kept:
        sample = read[row["key"].replace(".", "_")]
        ext = "png" if row["format"] == "PNG" else "jpg"
        assert sample[ext] == row["image_bytes"]
        assert sample["txt"].decode() == (row["caption_ko"] or row["caption_en"])
        meta = json.loads(sample["json"])
        assert (meta["key"], meta["category"]) == (row["key"], "photo") and "image_bytes" not in meta
    assert result.counters["exported"] == 5 and result.counters["not_ok"] == 1
    again = export_manifest(manifest, tmp_path / "wds", ExportConfig(format="webdataset", shard_size_mb=0.004))
    assert again.up_to_date and again.files == result.files


def test_kohya_export_writes_image_and_caption_pairs(tmp_path: Path) -> None:
    manifest, rows = _manifest(tmp_path / "m")
    config = ExportConfig(format="kohya", caption_col="caption_en", repeats=5, concept="hanbok")
    result = export_manifest(manifest, tmp_path / "kohya", config)
    folder = tmp_path / "kohya" / "5_hanbok"
    kept = [r for r in rows if r["status"] == "ok"]
    assert sorted(result.files) == sorted(f"5_hanbok/{n}" for n in (
        "k__000.png", "k__000.txt", "img_001.jpg", "img_001.txt", "k__002.jpg", "k__002.txt",
        "k__003.png", "k__003.txt", "k__005.jpg", "k__005.txt"))
    assert (folder / "img_001.jpg").read_bytes() == kept[1]["image_bytes"]
    assert (folder / "img_001.txt").read_text(encoding="utf-8") == "a hanbok 1"
    with pytest.raises(ConfigError, match="pass --overwrite"):
        export_manifest(manifest, tmp_path / "kohya", ExportConfig(format="kohya"))
    korean = export_manifest(manifest, tmp_path / "kohya", ExportConfig(format="kohya"), RunOptions(overwrite=True))
    assert (tmp_path / "kohya" / "img_001.txt").read_text(encoding="utf-8") == "한복 1"  # auto: Korean first
    assert (tmp_path / "kohya" / "k__000.txt").read_text(encoding="utf-8") == "a hanbok 0"
    assert not folder.exists() and korean.rows == 5


def test_export_refuses_foreign_folders_and_unknown_columns(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path / "m")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not a kcli export"):
        export_manifest(manifest, tmp_path / "mine", ExportConfig())
    with pytest.raises(ConfigError, match="no column 'caption_fr'"):
        export_manifest(manifest, tmp_path / "x", ExportConfig(caption_col="caption_fr"))
    with pytest.raises(ConfigError, match="is inside the input"):
        export_manifest(manifest, tmp_path / "m" / "wds", ExportConfig())
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_kohya_export_trains_with_kcli_train_lora(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path / "m", count=4)
    export_manifest(manifest, tmp_path / "kohya", ExportConfig(format="kohya", caption_col="caption_en", repeats=2,
                                                                concept="hanbok"))
    imported = import_dataset(ImportConfig(source=str(tmp_path / "kohya")), tmp_path / "back")
    assert imported.stats["kept"] == 4
    # As tests/ktrain/lora run it: one torch thread (OpenMP's waiting threads crawl on a shared CPU), no validation.
    done = kcli("train", "lora", "--manifest", str(tmp_path / "back"), "--base", "tiny-sd", "--out",
                str(tmp_path / "run"), "--max-steps", "2", "--batch-size", "2", "--resolution", "64", "--rank", "4",
                "--caption-col", "caption_en", "--set", "bucket_step=16", "--set", "validation_prompts=[]",
                "--set", f"cache_dir='{tmp_path}/c'", "--json", env={"OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["steps"] == 2 and result["data"]["used"] == 4
    assert Path(result["files"]["kohya"]).exists()


def test_cli_export_json(tmp_path: Path) -> None:
    _manifest(tmp_path / "m")
    done = kcli("export", str(tmp_path / "m"), "--out", str(tmp_path / "wds"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["format"], result["rows"], result["files"]) == ("webdataset", 5, ["shard-000000.tar"])
    bad = kcli("export", str(tmp_path / "m"), "--out", str(tmp_path / "k"), "--format", "tfrecord")
    assert bad.returncode != 0 and "unknown export format 'tfrecord'" in bad.stderr


def test_webdataset_keys_keep_their_folders_but_never_climb_out() -> None:
    from kdata.interop.webdataset import split_name, wds_key

    assert [wds_key(k) for k in ("ink/06", "img.001", "../../etc/passwd", "/abs//a.b.c", "..")] == [
        "ink/06", "img_001", "etc/passwd", "abs/a_b_c", "_"]
    assert split_name(f"{wds_key('a/b.c')}.jpg") == ("a/b_c", "jpg")  # the key webdataset reads back
