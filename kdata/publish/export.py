"""Export a manifest as a Hub dataset folder: ``data/train-*.parquet``, ``README.md``, a sample grid.

The folder holds exactly what ``kcli publish --repo-id`` uploads. It is built in a hidden staging
folder next to the target (parts are resumable, see :mod:`kdata.publish.parts`) and renamed into
place when complete, so the target is never half-written; ``kcli_export.json`` inside it records the
manifest fingerprint and settings, so re-running the same export finds it up to date.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kdata import __version__
from kdata.atomic import write_json_atomic, write_text_atomic
from kdata.blobs import BlobDir, blob_size
from kdata.manifest import Manifest, file_sha256, iter_shard_batches, open_manifest, verify_shard_hashes
from kdata.outputs import MARKER, check_out_vs_inputs, is_own_output, mark_output, user_entries
from kdata.progress import ProgressCallback, ProgressEvent, notify
from kdata.publish.card import CAPTION_COLUMNS, CardFacts, build_card
from kdata.publish.columns import IMAGE_COLUMN, IMAGE_TYPE, convert_batch, exported_columns, features_for, read_columns
from kdata.publish.config import PublishConfig
from kdata.publish.errors import PublishError
from kdata.publish.grid import write_sample_grid
from kdata.publish.parts import PARTS_DIR, PROGRESS, PartWriter, load_progress
from kdata.publish.summary import funnel, models_used, public_lineage, value_counts
from kdata.runner.stats import merge
from kdata.schema import IMAGE, Status

RECORD = "kcli_export.json"
CARD = "README.md"
GRID = "sample_grid.jpg"
READ_BATCH = 64  # rows per read: bounds memory to a few dozen images at a time


@dataclass
class ExportResult:
    path: Path
    fingerprint: str  # of the manifest it was exported from
    rows: int
    files: list[dict[str, Any]]
    counters: dict[str, int]
    funnel: list[dict[str, Any]] = field(default_factory=list)
    up_to_date: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def export_dataset(
    manifest_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: PublishConfig,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> ExportResult:
    """Write the Hub folder for ``manifest_path`` into ``out``; resumable, and a no-op when up to date."""
    manifest = open_manifest(manifest_path)
    if manifest.kind.name != IMAGE.name:
        raise PublishError(f"{manifest.path} is a {manifest.kind.name} manifest; publish exports image manifests")
    target = Path(out).resolve()
    identity = {"manifest_fingerprint": manifest.fingerprint, "settings": asdict(config)}
    done = _finished_export(target, identity)
    if done is not None:
        return done
    _check_target(target, overwrite, manifest)
    verify_shard_hashes(manifest)  # the rows that go out are the rows the descriptor vouches for
    rows_funnel = funnel(manifest)
    if not any(r["status"] == Status.OK for r in rows_funnel):
        raise PublishError(f"nothing to publish: {manifest.path} has no ok rows ({_funnel_text(rows_funnel)})")
    staging = target.parent / f".{target.name}.partial"
    record = load_progress(staging, identity)
    if not record["parts"] and staging.exists():
        shutil.rmtree(staging)  # leftovers of a different export
    staging.mkdir(parents=True, exist_ok=True)
    schema = _unified_schema(manifest)
    columns = exported_columns(schema, config.keep_exif)
    features = features_for(pa.schema([pa.field(IMAGE_COLUMN, IMAGE_TYPE), *[schema.field(c) for c in columns]]))
    writer = PartWriter(staging, features, record)
    _write_parts(manifest, writer, columns, read_columns(schema, config.keep_exif), config, progress)
    result = _finalize(staging, writer, manifest, config, rows_funnel, identity, target)
    _swap_into_place(staging, target)
    return result


def _write_parts(
    manifest: Manifest,
    writer: PartWriter,
    columns: list[str],
    wanted: list[str],
    config: PublishConfig,
    progress: ProgressCallback | None,
) -> None:
    skip, position, exported = writer.consumed, 0, sum(p.rows for p in writer.parts)
    shards = manifest.shard_paths
    for index, shard in enumerate(shards):
        if position < skip and position + (ok := _ok_rows(shard)) <= skip:
            position += ok
            notify(progress, ProgressEvent("export", index + 1, len(shards), "shards", exported, detail=shard.name,
                                               skipped=True))
            continue
        for batch in iter_shard_batches(shard, wanted, READ_BATCH, only_ok=True):
            if position + batch.num_rows <= skip:
                position += batch.num_rows
                continue
            if position < skip:
                batch, position = batch.slice(skip - position), skip
            exported += _write_batch(batch, position, writer, columns, manifest, config)
            position += batch.num_rows
        notify(progress, ProgressEvent("export", index + 1, len(shards), "shards", exported, detail=shard.name))
    writer.close_part(position)


def _write_batch(
    batch: pa.RecordBatch, position: int, writer: PartWriter, columns: list[str], manifest: Manifest,
    config: PublishConfig,
) -> int:  # fmt: skip
    """Convert ``batch`` piece by piece, sealing a part whenever the next rows would overflow it."""
    sizes = _input_sizes(batch, manifest.blob_dirs)
    start, exported = 0, 0
    while start < batch.num_rows:
        room = config.shard_bytes - writer.open_bytes
        take = sum(1 for total in accumulate(sizes[start:]) if total <= room)
        if take == 0 and writer.open_bytes == 0:
            take = 1  # a single image larger than a shard gets a shard of its own
        if take == 0:
            writer.close_part(position + start)
            continue
        table, counters = convert_batch(batch.slice(start, take), columns, manifest.blob_dirs, config.keep_exif)
        writer.add(table, counters, sum(sizes[start : start + take]))
        exported += table.num_rows
        start += take
    return exported


def _input_sizes(batch: pa.RecordBatch, blob_dirs: list[BlobDir]) -> list[int]:
    """Each row's image size as stored (inline or blob file): what the shard size limit counts."""
    names = batch.schema.names
    inline = (
        pc.fill_null(pc.binary_length(batch.column("image_bytes")), 0).to_pylist()
        if "image_bytes" in names
        else [0] * batch.num_rows
    )
    paths = batch.column("image_path").to_pylist() if "image_path" in names else [None] * batch.num_rows
    return [size or blob_size({"image_path": path}, blob_dirs) for size, path in zip(inline, paths)]


def _ok_rows(shard: Path) -> int:
    return sum(b.num_rows for b in iter_shard_batches(shard, ["status"], 65536, only_ok=True))


def _unified_schema(manifest: Manifest) -> pa.Schema:
    """One schema over all shards (a column that is all-null in one shard is typed by the others)."""
    schemas = [pq.read_schema(p).remove_metadata() for p in manifest.shard_paths]
    return pa.unify_schemas(schemas, promote_options="permissive") if schemas else manifest.schema()


def _finalize(
    staging: Path, writer: PartWriter, manifest: Manifest, config: PublishConfig, rows_funnel: list[dict[str, Any]],
    identity: dict[str, Any], target: Path,
) -> ExportResult:  # fmt: skip
    parts = writer.files
    counters = merge(p.counters for p in writer.parts)
    if not parts:
        raise PublishError(f"nothing to publish: no ok row of {manifest.path} had readable image bytes ({counters})")
    files = _name_data_files(staging, parts)
    data_paths = [staging / f["path"] for f in files]
    grid = GRID if config.sample_grid and write_sample_grid(data_paths, config.sample_grid, staging / GRID) else None
    facts = _card_facts(manifest, config, rows_funnel, counters, data_paths, files, grid, target)
    write_text_atomic(staging / CARD, str(build_card(facts)))
    extra = [GRID] if grid else []
    files += [_file_entry(staging, name) for name in (CARD, *extra)]
    record = {
        **identity,
        "kcli_version": __version__,
        "rows": facts.rows,
        "counters": counters,
        "files": files,
        "lineage": facts.lineage,
    }
    write_json_atomic(staging / RECORD, record)
    shutil.rmtree(staging / PARTS_DIR, ignore_errors=True)
    (staging / PROGRESS).unlink(missing_ok=True)
    return ExportResult(target, manifest.fingerprint, facts.rows, files, counters, rows_funnel)


def _name_data_files(staging: Path, parts: list[Any]) -> list[dict[str, Any]]:
    """Rename parts to the Hub's ``data/train-00000-of-0000N.parquet`` once N is known."""
    entries = []
    for index, part in enumerate(parts):
        name = f"data/train-{index:05d}-of-{len(parts):05d}.parquet"
        source = staging / PARTS_DIR / part.file
        if source.exists():  # already renamed by an interrupted finalisation otherwise
            (staging / "data").mkdir(exist_ok=True)
            os.replace(source, staging / name)
        entries.append({**_file_entry(staging, name), "rows": part.rows, "num_bytes": part.num_bytes})
    return entries


def _file_entry(root: Path, name: str) -> dict[str, Any]:
    path = root / name
    return {"path": name, "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def _card_facts(
    manifest: Manifest, config: PublishConfig, rows_funnel: list[dict[str, Any]], counters: dict[str, int],
    data_paths: list[Path], files: list[dict[str, Any]], grid: str | None, target: Path,
) -> CardFacts:  # fmt: skip
    from datasets import Features

    features = Features.from_arrow_schema(pq.read_schema(data_paths[0]))
    title = config.pretty_name or (config.repo_id.split("/")[-1] if config.repo_id else target.name)
    return CardFacts(
        title=title,
        load_id=config.repo_id or "path/to/this/folder",
        fingerprint=manifest.fingerprint,
        features=features,
        rows=sum(f["rows"] for f in files),
        num_bytes=sum(f["num_bytes"] for f in files),
        download_size=sum(f["bytes"] for f in files),
        file_count=len(files),
        funnel=rows_funnel,
        sources=value_counts(data_paths, ["source", "license"]),
        models=models_used(manifest.lineage_chain, data_paths),
        lineage=public_lineage(manifest.lineage_chain),
        examples=_examples(data_paths[0], [c for c in ("key", *CAPTION_COLUMNS, "alt_text") if c in features]),
        counters=counters,
        keep_exif=config.keep_exif,
        grid_file=grid,
    )


def _examples(path: Path, columns: list[str], count: int = 5) -> list[dict[str, Any]]:
    if not columns:
        return []
    for batch in pq.ParquetFile(path).iter_batches(columns=columns, batch_size=count):
        return batch.to_pylist()
    return []


def _finished_export(target: Path, identity: dict[str, Any]) -> ExportResult | None:
    """The export already in ``target`` when it was made from the same manifest with the same settings."""
    path = target / RECORD
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    same = all(record.get(k) == v for k, v in identity.items())
    complete = all((target / f["path"]).exists() and (target / f["path"]).stat().st_size == f["bytes"]
                   for f in record.get("files", []))  # fmt: skip
    if not (same and complete):
        return None
    return ExportResult(
        target, record["manifest_fingerprint"], record["rows"], record["files"], record["counters"], up_to_date=True
    )


def _check_target(target: Path, overwrite: bool, manifest: Manifest) -> None:
    """The export may replace only an earlier kcli export (marked by :mod:`kdata.outputs`), never the manifest."""
    check_out_vs_inputs(target, [manifest.path, *manifest.blob_dirs], flag="--to")
    if not user_entries(target):
        return
    if not overwrite:
        raise PublishError(f"{target} already holds a different export or other files; pass --overwrite to replace it")
    if not target.is_dir() or not is_own_output(target):
        raise PublishError(f"refusing to --overwrite {target}: it is not a kcli export (no {MARKER}); delete it "
                           "yourself or choose another folder")


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` by the finished staging folder; the old export is removed only afterwards."""
    old = target.parent / f".{target.name}.old"
    if old.exists():
        shutil.rmtree(old)
    mark_output(staging, "export")  # kcli built every file in it
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old)


def _funnel_text(rows_funnel: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['status']}{'/' + r['reason'] if r['reason'] else ''}: {r['rows']}" for r in rows_funnel)

