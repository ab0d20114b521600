"""Many threads and processes storing the same image at once: no error, one blob, no temporary left."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from kdata.blobs import STORE_MARKER, BlobStore
from kdata.manifest import open_manifest
from tests.helpers.cli import kcli
from tests.ingest import images
from tests.ingest.fault_server import Reply, serve

COPIES = 40


def _blob_files(store: Path) -> list[Path]:
    return sorted(p for p in store.rglob("*") if p.is_file() and p.name != STORE_MARKER)


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp" in p.name]


@pytest.mark.slow  # five runs of the command: 8 to 18 s
def test_forty_urls_of_one_image_at_sixteen_threads_store_one_blob(tmp_path: Path) -> None:
    body = images.jpeg(seed=21)
    routes = {f"/copy/{i}.jpg": (lambda n: Reply(body=body)) for i in range(COPIES)}
    with serve(routes) as server:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(server.url(path) + "\n" for path in routes))
        for run in range(5):
            out = tmp_path / f"run{run}"
            done = kcli("ingest", "urls", str(listing), "--out", str(out), "--store", "blobs", "--threads", "16",
                        "--allow-private", "--json")
            assert done.returncode == 0, f"run {run}: {done.stderr}"
            assert json.loads(done.stdout)["stats"] == {"total": COPIES, "kept": COPIES}
            [blob] = _blob_files(out / "blobs")
            assert blob.read_bytes() == body
            assert {r["image_path"] for r in open_manifest(out).read_table().to_pylist()} == {
                blob.relative_to(out / "blobs").as_posix()}
            assert not _leftovers(out)


def test_two_worker_processes_store_the_same_image(tmp_path: Path) -> None:
    body = images.jpeg(seed=22)
    routes = {f"/copy/{i}.jpg": (lambda n: Reply(body=body)) for i in range(COPIES)}
    with serve(routes) as server:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(server.url(path) + "\n" for path in routes))
        out = tmp_path / "out"
        done = kcli("ingest", "urls", str(listing), "--out", str(out), "--store", "blobs", "--threads", "8",
                    "--workers", "2", "--shard-size", "10", "--allow-private", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"] == {"total": COPIES, "kept": COPIES}
    assert [b.read_bytes() for b in _blob_files(out / "blobs")] == [body]
    assert not _leftovers(out)


def _put_many(root: str) -> list[str]:
    """Store the same few blobs from 16 threads at once; returns every path put returned."""
    store = BlobStore(Path(root))
    barrier = threading.Barrier(16)
    results: list[str] = []
    errors: list[BaseException] = []

    def put() -> None:
        barrier.wait()
        try:
            for index in range(30):
                results.append(store.put(f"image {index % 3}".encode(), "PNG"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    return results


def test_blob_store_put_from_threads_and_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with context.Pool(2) as pool:
        per_process = pool.map(_put_many, [str(tmp_path)] * 2)
    in_this_process = _put_many(str(tmp_path))
    paths = {p for results in [*per_process, in_this_process] for p in results}
    assert len(paths) == 3
    assert sorted(p.relative_to(tmp_path).as_posix() for p in _blob_files(tmp_path)) == sorted(paths)
    assert {(tmp_path / p).read_bytes() for p in paths} == {b"image 0", b"image 1", b"image 2"}
    assert not _leftovers(tmp_path)


def test_a_blob_another_writer_stored_first_is_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"same bytes"
    real_replace = os.replace

    def another_writer_wins(source: str, target: str) -> None:
        if Path(target).name == STORE_MARKER:
            return real_replace(source, target)
        Path(target).write_bytes(data)  # its rename landed first, and this one is refused (as Windows does)
        raise PermissionError(13, "Access is denied", target)

    monkeypatch.setattr("kdata.atomic.os.replace", another_writer_wins)
    store = BlobStore(tmp_path)
    rel = store.put(data, "PNG")
    assert (tmp_path / rel).read_bytes() == data and not _leftovers(tmp_path)

    monkeypatch.setattr("kdata.atomic.os.replace", lambda source, target: (_ for _ in ()).throw(
        PermissionError(13, "Access is denied", target)))
    with pytest.raises(PermissionError):  # no blob there after all: a real failure
        store.put(b"other bytes", "PNG")
    assert not _leftovers(tmp_path)
