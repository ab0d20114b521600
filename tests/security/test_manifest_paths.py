"""Tampered manifests: no path read from a manifest reaches a file outside it.

Each manifest here is a legitimate one (images in its own content-addressed ``blobs/``) edited the way an
attacker would: an absolute ``image_path``, a ``../`` path, a ``blob_dirs`` entry outside the manifest, a
symlink inside the blob store that points outside, a shard entry outside the manifest. The files outside
carry a unique marker; every command a user runs on the manifest must leave that marker out of all it
writes and prints, fail the tampered rows with ``path_outside_manifest``, and never show a traceback.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from kdata.blobs import STORE_MARKER, BlobStore, read_image_bytes
from kdata.errors import KcliError, ManifestError, PathOutsideManifestError
from kdata.manifest import DESCRIPTOR, Lineage, Manifest, open_manifest, write_manifest
from kdata.publish import PublishConfig
from kdata.publish.export import export_dataset
from kdata.samples import SAMPLE_IMAGES, sample_rows
from kdata.schema import IMAGE, conform_table
from tests.helpers.cli import kcli

MARKER = f"KCLI-OUTSIDE-{uuid.uuid4().hex}"
TAMPERED = ("absolute", "dotdot", "outside_blob_dir", "symlink", "absolute_text")
LEGIT = 4


def _secret_jpeg() -> bytes:
    """A decodable picture whose bytes carry the marker (a JPEG comment survives EXIF stripping)."""
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 40, 40)).save(out, format="JPEG", quality=90, comment=MARKER.encode())
    return out.getvalue()


def _write_outside(root: Path) -> Path:
    outside = root / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.jpg").write_bytes(_secret_jpeg())
    (outside / "passwd.txt").write_text(f"root:x:0:0:{MARKER}:/root:/bin/bash\n")
    return outside


def _tampered_manifest(root: Path) -> Path:
    """``root/m``: four legitimate blob rows and one row per way of pointing outside the manifest."""
    outside = _write_outside(root)
    secret = outside / "secret.jpg"
    path = root / "m"
    store = BlobStore(path / "blobs")
    rows = []
    for row in sample_rows()[:LEGIT]:
        data = row.pop("image_bytes")
        rows.append({**row, "image_path": store.put(data, "JPEG", row["sha256"]), "format": "JPEG"})
    (path / "blobs" / "ln").mkdir()
    (path / "blobs" / "ln" / "secret.jpg").symlink_to(secret)
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    paths = {"absolute": str(secret), "dotdot": "../../outside/secret.jpg", "outside_blob_dir": "secret.jpg",
             "symlink": "ln/secret.jpg", "absolute_text": str(outside / "passwd.txt")}
    for key in TAMPERED:
        rows.append({"key": key, "source": "attacker", "image_path": paths[key], "sha256": digest, "width": 256,
                     "height": 256, "format": "JPEG", "status": "ok", "caption_en": "a red square"})
    table = conform_table(pa.Table.from_pylist(rows), IMAGE)
    write_manifest(path, [table], IMAGE, Lineage(stage="unit", config={}), blob_dirs=[store.root])
    descriptor = json.loads((path / DESCRIPTOR).read_text())
    descriptor["blob_dirs"].append("../outside")
    (path / DESCRIPTOR).write_text(json.dumps(descriptor))
    return path


def _outside_shard_manifest(root: Path) -> Path:
    """``root/s``: a manifest whose only shard entry names a Parquet file outside it."""
    outside = _write_outside(root)
    rows = [{**sample_rows()[0], "caption_en": MARKER}]
    theirs = write_manifest(outside / "theirs", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                            Lineage(stage="unit", config={}))
    shutil.copyfile(theirs.shard_paths[0], outside / "x.parquet")
    path = root / "s"
    write_manifest(path, [conform_table(pa.Table.from_pylist(sample_rows()[1:3]), IMAGE)], IMAGE,
                   Lineage(stage="unit", config={}))
    descriptor = json.loads((path / DESCRIPTOR).read_text())
    entry = theirs.descriptor["shards"][0]
    descriptor["shards"] = [{**entry, "file": "../../outside/x.parquet"}]
    descriptor["num_rows"], descriptor["fingerprint"] = 1, theirs.fingerprint
    (path / DESCRIPTOR).write_text(json.dumps(descriptor))
    return path


def _values(value: object) -> list[bytes]:
    if isinstance(value, (bytes, str)):
        return [value.encode() if isinstance(value, str) else value]
    if isinstance(value, dict):
        return [v for item in value.values() for v in _values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    return []


def _parquet_holds(file: Path, needle: bytes) -> bool:
    return any(needle in value for value in _values(pq.read_table(file).to_pylist()))


def leaks(*places: Path | str) -> list[str]:
    """Where the marker shows up: printed text, or any file under the given folders (Parquet decoded)."""
    found = []
    needle = MARKER.encode()
    for place in places:
        if isinstance(place, str):
            found += ["output"] if MARKER in place else []
            continue
        for file in [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]:
            if needle in file.read_bytes() or (file.suffix == ".parquet" and _parquet_holds(file, needle)):
                found.append(str(file))
    return found


def _one_line_error(done, *words: str) -> None:  # noqa: ANN001 - a CompletedProcess
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _rows(path: Path) -> dict[str, dict]:
    return {row["key"]: row for row in open_manifest(path).read_table(["key", "status", "reason"]).to_pylist()}


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tampered_manifest(tmp_path_factory.mktemp("tampered"))


@pytest.fixture(scope="module")
def outside_shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _outside_shard_manifest(tmp_path_factory.mktemp("shard"))


# --- the library rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", TAMPERED)
def test_read_image_bytes_refuses_every_path_outside(tampered: Path, key: str) -> None:
    manifest = open_manifest(tampered)
    row = next(r for r in manifest.read_table().to_pylist() if r["key"] == key)
    with pytest.raises(PathOutsideManifestError) as info:
        read_image_bytes(row, manifest.blob_dirs)
    assert info.value.reason == "path_outside_manifest" and "\n" not in str(info.value)


def test_legitimate_rows_still_read(tampered: Path) -> None:
    manifest = open_manifest(tampered)
    rows = [r for r in manifest.read_table().to_pylist() if r["key"] not in TAMPERED]
    assert len(rows) == LEGIT
    for row in rows:
        assert hashlib.sha256(read_image_bytes(row, manifest.blob_dirs)).hexdigest() == row["sha256"]


@pytest.mark.parametrize("bad", ["a/../../x.jpg", "/etc/passwd", "ab/\x00.jpg", "..", "./../x"])
def test_malformed_image_paths_are_outside(tmp_path: Path, bad: str) -> None:
    with pytest.raises(PathOutsideManifestError):
        read_image_bytes({"key": "k", "image_path": bad}, [tmp_path])


def test_a_blob_dir_named_by_the_user_is_read(tampered: Path) -> None:
    outside = tampered.parent / "outside"
    manifest = open_manifest(tampered, blob_dirs=[outside])
    row = next(r for r in manifest.read_table().to_pylist() if r["key"] == "outside_blob_dir")
    assert MARKER.encode() in read_image_bytes(row, manifest.blob_dirs)
    for key in ("absolute", "dotdot", "symlink"):  # naming a folder does not lift the rule for other paths
        row = next(r for r in manifest.read_table().to_pylist() if r["key"] == key)
        with pytest.raises(PathOutsideManifestError):
            read_image_bytes(row, manifest.blob_dirs)


def test_a_named_blob_dir_must_exist(tampered: Path) -> None:
    with pytest.raises(KcliError, match="no-such-folder"):
        open_manifest(tampered, blob_dirs=[tampered / "no-such-folder"])


def test_an_unmarked_store_outside_is_read_only_when_named(tmp_path: Path) -> None:
    """A store kcli did not mark (or a folder an attacker named) is refused until the user names it."""
    store = tmp_path / "old-store"
    inline, stored = sample_rows()[:2]
    rel = BlobStore(store).put(stored["image_bytes"], "JPEG")
    (store / STORE_MARKER).unlink()
    rows = [{**inline, "image_path": None}, {**stored, "image_bytes": None, "image_path": rel}]
    manifest = write_manifest(tmp_path / "m", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                              Lineage(stage="unit", config={}), blob_dirs=[store])
    refused = export_dataset(open_manifest(manifest.path), tmp_path / "refused", PublishConfig())
    assert refused.rows == 1 and refused.counters["skipped/path_outside_manifest"] == 1
    named = export_dataset(open_manifest(manifest.path, blob_dirs=[store]), tmp_path / "named", PublishConfig())
    assert named.rows == 2 and "skipped/path_outside_manifest" not in named.counters


def test_a_manifest_object_passes_where_a_path_does(tampered: Path) -> None:
    manifest = open_manifest(tampered, blob_dirs=[tampered.parent / "outside"])
    assert open_manifest(manifest) is manifest and Path(manifest) == tampered


def test_a_shard_entry_outside_the_manifest_is_refused(outside_shard: Path) -> None:
    with pytest.raises(ManifestError, match=r"shards\[0\]\.file") as info:
        open_manifest(outside_shard)
    assert "\n" not in str(info.value)


def test_a_shard_symlinked_outside_is_refused(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m", [conform_table(pa.Table.from_pylist(sample_rows()[:2]), IMAGE)],
                              IMAGE, Lineage(stage="unit", config={}))
    shard = manifest.shard_paths[0]
    moved = tmp_path / "elsewhere.parquet"
    shard.rename(moved)
    shard.symlink_to(moved)
    with pytest.raises(ManifestError, match=r"shards\[0\]\.file"):
        open_manifest(manifest.path)


def test_a_shard_that_changed_after_the_manifest_was_written_is_not_published(tmp_path: Path) -> None:
    from kdata.publish.errors import PublishError

    rows = sample_rows()[:3]
    manifest = write_manifest(tmp_path / "m", [conform_table(pa.Table.from_pylist(rows), IMAGE)], IMAGE,
                              Lineage(stage="unit", config={}))
    swapped = conform_table(pa.Table.from_pylist([{**rows[0], "caption_en": MARKER}]), IMAGE)
    pq.write_table(swapped, manifest.shard_paths[0])
    with pytest.raises((ManifestError, PublishError), match="shard-00000.parquet") as info:
        export_dataset(manifest.path, tmp_path / "out", PublishConfig())
    assert "sha256" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists() or not leaks(tmp_path / "out")


# --- through the command line ------------------------------------------------------------------------


def test_inspect_shows_a_tampered_manifest_without_reading_outside(tampered: Path) -> None:
    done = kcli("inspect", str(tampered), "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert not leaks(done.stdout, done.stderr)
    outside = str((tampered.parent / "outside").resolve())
    assert {"path": outside, "readable": False} in json.loads(done.stdout)["blob_dirs"]


def test_verify_fails_every_path_outside(tampered: Path, tmp_path: Path) -> None:
    done = kcli("verify", str(tampered), "--out", str(tmp_path / "v"), "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    rows = _rows(tmp_path / "v")
    assert {k: (rows[k]["status"], rows[k]["reason"]) for k in TAMPERED} == {
        k: ("failed", "path_outside_manifest") for k in TAMPERED}
    assert sum(r["status"] == "ok" for r in rows.values()) == LEGIT
    assert not leaks(done.stdout, done.stderr, tmp_path / "v")


def test_verify_reads_a_store_the_user_names_with_blob_dir(tampered: Path, tmp_path: Path) -> None:
    """--blob-dir opens exactly the named store: its row is read, every other path outside still fails."""
    done = kcli("verify", str(tampered), "--out", str(tmp_path / "v"), "--json",
                "--blob-dir", str(tampered.parent / "outside"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    rows = _rows(tmp_path / "v")
    assert rows["outside_blob_dir"]["status"] == "ok"
    assert {k: rows[k]["reason"] for k in TAMPERED if k != "outside_blob_dir"} == {
        k: "path_outside_manifest" for k in TAMPERED if k != "outside_blob_dir"}


def test_filter_fails_every_path_outside_and_its_contact_sheet_shows_none(tampered: Path, tmp_path: Path) -> None:
    out = tmp_path / "f"
    done = kcli("filter", str(tampered), "--out", str(out), "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    rows = _rows(out)
    assert {k: (rows[k]["status"], rows[k]["reason"]) for k in TAMPERED} == {
        k: ("failed", "path_outside_manifest") for k in TAMPERED}
    thumbs = {p.stem for p in (out / "report" / "thumbs").glob("*.jpg")}
    assert not thumbs & set(TAMPERED) and len(thumbs) >= 1
    assert not leaks(done.stdout, done.stderr, out)


@pytest.mark.parametrize("keep_exif", [False, True])
def test_publish_leaves_out_every_path_outside(tampered: Path, tmp_path: Path, keep_exif: bool) -> None:
    out = tmp_path / "p"
    done = kcli("publish", str(tampered), "--to", str(out), "--json", *(["--keep-exif"] if keep_exif else []))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    export = json.loads(done.stdout)["export"]
    assert export["rows"] == LEGIT and export["counters"]["skipped/path_outside_manifest"] == len(TAMPERED)
    keys = pq.read_table(out / "data" / "train-00000-of-00001.parquet", columns=["key"]).column("key").to_pylist()
    assert not set(keys) & set(TAMPERED)
    assert not leaks(done.stdout, done.stderr, out)


def test_report_marks_every_path_outside_failed_and_draws_none(tampered: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    done = kcli("report", str(tampered), "--out", str(out), "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    match = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None
    items = {item["key"]: item for item in json.loads(match.group(1))["items"]}
    for key in TAMPERED:
        assert (items[key]["status"], items[key]["reason"], items[key]["thumb"]) == (
            "failed", "path_outside_manifest", None)
    assert sum(1 for item in items.values() if item["thumb"]) == LEGIT
    assert not leaks(done.stdout, done.stderr, out)


@pytest.mark.parametrize(
    "command",
    [["inspect"], ["verify", "--out", "{out}"], ["filter", "--out", "{out}"], ["publish", "--to", "{out}"],
     ["report", "--out", "{out}"]],
    ids=lambda c: c[0],
)
def test_every_command_refuses_a_shard_outside_in_one_line(outside_shard: Path, tmp_path: Path,
                                                          command: list[str]) -> None:
    out = tmp_path / "out"
    args = [command[0], str(outside_shard), *(a.format(out=out) for a in command[1:])]
    done = kcli(*args)
    _one_line_error(done, "shards[0].file")
    assert not leaks(done.stdout, done.stderr, *([out] if out.exists() else []))


@pytest.mark.slow
def test_the_ingest_filter_publish_chain_with_a_blob_store_needs_no_flag(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for row in sample_rows()[:6]:  # with their sidecars: the default filter rules want some text
        shutil.copyfile(SAMPLE_IMAGES / f"{row['key']}.jpg", images / f"{row['key']}.jpg")
        shutil.copyfile(SAMPLE_IMAGES / f"{row['key']}.json", images / f"{row['key']}.json")
    raw, filtered, published = tmp_path / "raw", tmp_path / "filtered", tmp_path / "published"
    done = kcli("ingest", "folder", str(images), "--out", str(raw), "--store", "blobs", "--json")
    assert done.returncode == 0, done.stderr
    assert (raw / "blobs" / STORE_MARKER).is_file()
    done = kcli("filter", str(raw), "--out", str(filtered), "--json")
    assert done.returncode == 0, done.stderr
    assert "../raw/blobs" in open_manifest(filtered).descriptor["blob_dirs"]
    assert all(r["reason"] != "path_outside_manifest" for r in _rows(filtered).values())
    kept = sum(r["status"] == "ok" for r in _rows(filtered).values())
    done = kcli("publish", str(filtered), "--to", str(published), "--json")
    assert done.returncode == 0, done.stderr
    export = json.loads(done.stdout)["export"]
    assert export["rows"] == kept > 0 and not any(k.startswith("skipped/") for k in export["counters"])


def test_a_manifest_object_runs_a_stage_with_a_named_store(tmp_path: Path) -> None:
    """What a ``--blob-dir`` option does: open the input with the named stores, hand the Manifest on."""
    from kdata.verify import verify_manifest

    store = tmp_path / "old-store"
    row = sample_rows()[0]
    rel = BlobStore(store).put(row["image_bytes"], "JPEG")
    (store / STORE_MARKER).unlink()
    source = write_manifest(tmp_path / "m", [conform_table(pa.Table.from_pylist(
        [{**row, "image_bytes": None, "image_path": rel}]), IMAGE)], IMAGE, Lineage(stage="unit", config={}),
        blob_dirs=[store])
    refused = verify_manifest(source.path, tmp_path / "v1").manifest.read_table(["reason"]).to_pylist()
    assert refused == [{"reason": "path_outside_manifest"}]
    named: Manifest = verify_manifest(open_manifest(source.path, blob_dirs=[store]), tmp_path / "v2").manifest
    assert named.read_table(["status"]).to_pylist() == [{"status": "ok"}]


def test_a_blob_dir_inside_that_is_a_symlink_out_is_refused(tmp_path: Path) -> None:
    outside = _write_outside(tmp_path)
    row = {**sample_rows()[0], "image_bytes": None, "image_path": "secret.jpg"}
    manifest = write_manifest(tmp_path / "m", [conform_table(pa.Table.from_pylist([row]), IMAGE)], IMAGE,
                              Lineage(stage="unit", config={}))
    (tmp_path / "m" / "blobs").symlink_to(outside)
    descriptor = json.loads((manifest.path / DESCRIPTOR).read_text())
    (manifest.path / DESCRIPTOR).write_text(json.dumps({**descriptor, "blob_dirs": ["blobs"]}))
    with pytest.raises(PathOutsideManifestError):
        read_image_bytes(row, open_manifest(manifest.path).blob_dirs)
