"""Remote paths through fsspec: ``memory://`` end to end (stages run in-process, so they share the memory fs)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest

from kdata.errors import ConfigError
from kdata.filter.config import load_filter_config
from kdata.filter.run import run_filter
from kdata.fspath import as_url, is_remote, local_input, upload_tree
from kdata.ingest.folder import ingest_folder
from kdata.ingest.settings import folder_config
from kdata.interop.export import ExportConfig, export_manifest
from kdata.interop.stage import ImportConfig, import_dataset
from kdata.manifest import open_manifest
from kdata.publish import PublishConfig
from kdata.publish.publish import publish_manifest
from tests.ingest.images import jpeg
from tests.interop import layouts


@pytest.fixture
def memfs():  # noqa: ANN201 - the memory filesystem, emptied after the test
    fs = fsspec.filesystem("memory")
    yield fs
    for path in fs.ls("/", detail=False):
        fs.rm(path, recursive=True)


def test_only_urls_with_a_protocol_are_remote() -> None:
    assert [is_remote(p) for p in ("s3://b/x", "memory://x", "hf://datasets/a/b", "gs://b")] == [True] * 4
    assert [is_remote(p) for p in ("data/x", "/abs/x", "file:///abs/x", Path("nosuchprotocol://b/x"), None)] \
        == [False] * 5
    # A URL typed as a path on the command line loses a slash (Path("s3://b/x") is s3:/b/x): it is restored.
    assert [as_url(Path(u)) for u in ("s3://b/x", "memory://raw")] == ["s3://b/x", "memory://raw"]
    assert local_input("relative/path") == Path("relative/path")


def test_ingest_filter_publish_round_trip_through_memory(memfs, tmp_path: Path) -> None:  # noqa: ANN001
    pictures = {f"in/photo{i}.jpg": jpeg(160, 140, seed=30 + i) for i in range(3)}
    pictures["in/tiny.jpg"] = jpeg(40, 40, seed=9)  # below the default min_side: rejected by the filter
    for name, data in pictures.items():
        memfs.pipe(f"/{name}", data)
    for index, caption in enumerate(("붉은 노을", "푸른 바다", "노란 들판")):  # the default rules want a text
        sidecar = {"caption_ko": caption, "alt_text": f"{caption}이 보이는 풍경 사진"}
        memfs.pipe(f"/in/photo{index}.json", json.dumps(sidecar).encode())
    # As `kcli ingest folder memory://in --out memory://raw` hands them over: typed as paths.
    raw = ingest_folder(folder_config(Path("memory://in"), {}), Path("memory://raw"))
    assert memfs.exists("/raw/manifest.json") and raw.stats["kept"] == 4
    filtered = run_filter("memory://raw", load_filter_config(), "memory://filtered")
    assert memfs.exists("/filtered/manifest.json") and memfs.exists("/filtered/report/index.html")
    reopened = open_manifest("memory://filtered")
    decisions = {r["key"]: (r["status"], r["reason"]) for r in reopened.read_table(["key", "status", "reason"])
                 .to_pylist()}
    assert decisions["tiny"] == ("rejected", "too_small") and filtered.stats["total"] == 4
    outcome = publish_manifest("memory://filtered", PublishConfig(), to="memory://published")
    files = {f["path"] for f in outcome["export"]["files"]}
    assert all(memfs.exists(f"/published/{name}") for name in files)
    assert memfs.exists("/published/kcli_export.json") and memfs.exists("/published/README.md")
    published = [pq.read_table(io.BytesIO(memfs.cat(f"/published/{n}"))) for n in sorted(files)
                 if n.endswith(".parquet")]
    rows = [r for table in published for r in table.to_pylist()]
    kept = sorted(k for k, (status, _) in decisions.items() if status == "ok")
    assert sorted(r["key"] for r in rows) == kept
    assert {r["key"]: r["image"]["bytes"] for r in rows} == {k: pictures[f"in/{k}.jpg"] for k in kept}
    assert next(r for r in rows if r["key"] == "photo0")["caption_ko"] == "붉은 노을"


def test_import_from_and_export_to_memory(memfs, tmp_path: Path) -> None:  # noqa: ANN001
    written = layouts.webdataset_shards(tmp_path / "wds", count=3, per_shard=2)
    upload_tree(tmp_path / "wds", "memory://shards")
    result = import_dataset(ImportConfig(source="memory://shards"), "memory://imported")
    assert result.stats["kept"] == 3 and memfs.exists("/imported/manifest.json")
    rerun = import_dataset(ImportConfig(source="memory://shards"), "memory://imported")  # fresh copies, same input
    assert (rerun.shards_run, rerun.manifest.fingerprint) == (0, result.manifest.fingerprint)
    exported = export_manifest("memory://imported", "memory://kohya", ExportConfig(format="kohya"))
    assert sorted(exported.files) == sorted(f"{k}.{e}" for k in written for e in ("jpg", "txt"))
    assert {k: memfs.cat(f"/kohya/{k}.jpg") for k in written} == {k: s["jpg"] for k, s in written.items()}
    assert memfs.exists("/kohya/kcli_export.json")
    again = export_manifest("memory://imported", "memory://kohya", ExportConfig(format="kohya"))
    assert again.up_to_date  # the earlier remote export was read back, found complete


def test_remote_paths_need_their_filesystem_package() -> None:
    with pytest.raises(ConfigError, match=r"gs:// paths need gcsfs; install it with `pip install gcsfs`"):
        open_manifest("gs://bucket/manifest")
    with pytest.raises(ConfigError, match="no such file or folder: memory://nowhere"):
        open_manifest("memory://nowhere")


def test_an_interrupted_remote_run_resumes_from_what_it_uploaded(memfs, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from kdata.interop import stage

    layouts.img2dataset_parquet(tmp_path / "i2d", layouts.samples())
    original = stage.ImportStage.import_one

    def crash_on_last(self, row):  # noqa: ANN001, ANN202 - the stage's own signature
        if row.get("_image") == layouts.samples()[3]["jpg"]:
            raise RuntimeError("power cut")
        return original(self, row)

    monkeypatch.setattr(stage.ImportStage, "import_one", crash_on_last)
    config = ImportConfig(source=str(tmp_path / "i2d"), shard_size=2)
    with pytest.raises(RuntimeError, match="power cut"):
        import_dataset(config, "memory://raw")
    assert memfs.exists("/raw/data/shard-00000.parquet") and not memfs.exists("/raw/manifest.json")
    monkeypatch.setattr(stage.ImportStage, "import_one", original)
    resumed = import_dataset(config, "memory://raw")
    assert (resumed.shards_skipped, resumed.shards_run) == (1, 1)
    assert open_manifest("memory://raw").num_rows == 4
