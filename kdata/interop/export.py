"""``kcli export``: a manifest's kept rows as webdataset shards or a kohya folder, for the tools that train from them.

Only ``ok`` rows go out, as with ``kcli publish``; image bytes are written as stored (EXIF/XMP stripped
unless ``keep_exif``, with publish's lossless stripper). Every sample keeps its manifest key. The export
record (``kcli_export.json``: the manifest's fingerprint, the settings, the files, the counters) is written
last; re-running with the same manifest and settings is a no-op, and an interrupted export is redone.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kdata.atomic import write_json_atomic
from kdata.blobs import FORMAT_EXTENSIONS, read_image_bytes
from kdata.errors import ConfigError, KcliError, ManifestError
from kdata.fspath import is_remote, remote_output
from kdata.interop.kohya import kohya_folder, safe_stem, write_pair
from kdata.interop.webdataset import TarShardWriter, wds_key
from kdata.manifest import Manifest, open_manifest
from kdata.outputs import check_out_vs_inputs, check_writable_output, is_own_output, output_lock, prepare_output
from kdata.progress import ProgressEvent, notify
from kdata.runner import RunOptions
from kdata.schema import IMAGE

EXPORT_FORMATS = ("webdataset", "kohya")
RECORD = "kcli_export.json"
AUTO_CAPTIONS = ("caption_ko", "caption_en", "caption", "alt_text")
LEFT_OUT = frozenset({"image_bytes", "image_path", "exif_json"})  # bytes travel as the image member


@dataclass
class ExportConfig:
    format: str = "webdataset"
    caption_col: str | None = None  # None: per row, the first of AUTO_CAPTIONS that is set
    shard_size_mb: float = 500.0  # webdataset: target size of each tar
    repeats: int | None = None  # kohya: the N of an N_concept folder
    concept: str | None = None  # kohya: write into <repeats>_<concept>/
    keep_exif: bool = False

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise ConfigError(f"unknown export format {self.format!r}; valid formats: {', '.join(EXPORT_FORMATS)}")
        if self.shard_size_mb <= 0 or (self.repeats is not None and self.repeats < 1):
            raise ConfigError("--shard-size-mb must be > 0 and --repeats >= 1")
        try:
            kohya_folder(self.repeats, self.concept)
        except ValueError as exc:
            raise ConfigError(f"--concept: {exc}") from None


@dataclass
class ExportResult:
    path: Path
    format: str
    fingerprint: str  # of the manifest exported
    rows: int  # samples written
    files: list[str]
    counters: dict[str, int]
    pattern: str | None = None  # webdataset: the shards as one brace pattern
    up_to_date: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def export_manifest(manifest: str | os.PathLike[str] | Manifest, out: str | os.PathLike[str], config: ExportConfig,
                    options: RunOptions = RunOptions()) -> ExportResult:
    """Write ``manifest``'s ok rows to ``out`` in ``config.format``; resumable (see module docstring)."""
    if is_remote(out):
        with remote_output(out, options.overwrite) as local:
            return export_manifest(manifest, local, config, options)
    opened = open_manifest(manifest)
    if opened.kind.name != IMAGE.name:
        raise ConfigError(f"{opened.path} is a {opened.kind.name} manifest; export writes image manifests")
    _check_caption_col(opened, config)
    target = Path(out).resolve()
    identity = {"manifest_fingerprint": opened.fingerprint, "settings": asdict(config)}
    done = _finished(target, identity)
    if done is not None:
        return done
    check_out_vs_inputs(target, [opened.path, *opened.blob_dirs])
    check_writable_output(target, "kcli export")
    with output_lock(target):
        if (target / RECORD).is_file() and not options.overwrite:
            raise ConfigError(f"{target} holds an export of another manifest or with other settings; pass "
                              "--overwrite to replace it")
        # An unfinished export of ours (no record) is redone from scratch; only --overwrite removes a finished one.
        prepare_output(target, "export", overwrite=options.overwrite or is_own_output(target), what="kcli export")
        writer = _writer(target, config)
        counters = _write_rows(opened, writer, config, options)
        files = writer.close()
        result = ExportResult(target, config.format, opened.fingerprint, counters.get("exported", 0), files,
                              dict(sorted(counters.items())), writer.pattern())
        write_json_atomic(target / RECORD, {**identity, **result.to_dict()})
    return result


def _check_caption_col(manifest: Manifest, config: ExportConfig) -> None:
    names = manifest.schema().names
    if config.caption_col is not None and config.caption_col not in names:
        text = [f.name for f in manifest.schema() if str(f.type) in ("string", "large_string")]
        raise ConfigError(f"{manifest.path} has no column {config.caption_col!r} (--caption-col); its text "
                          f"columns: {', '.join(text)}")


def _finished(target: Path, identity: dict[str, Any]) -> ExportResult | None:
    path = target / RECORD
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if any(record.get(k) != v for k, v in identity.items()):
        return None
    if not all((target / name).is_file() for name in record["files"]):
        return None
    return ExportResult(target, record["format"], record["fingerprint"], record["rows"], record["files"],
                        record["counters"], record.get("pattern"), up_to_date=True)


def caption_of(row: dict[str, Any], config: ExportConfig) -> str:
    """The row's caption: the named column, else the first of :data:`AUTO_CAPTIONS` that is set ("" when none)."""
    names = (config.caption_col,) if config.caption_col else AUTO_CAPTIONS
    return next((str(row[n]) for n in names if row.get(n) not in (None, "")), "")


def _write_rows(manifest: Manifest, writer: Any, config: ExportConfig, options: RunOptions) -> Counter[str]:
    from kdata.publish.exif import strip_metadata

    counters: Counter[str] = Counter(total=manifest.num_rows)
    done = 0
    for batch in manifest.iter_batches(only_ok=True, batch_size=256):
        for row in batch.to_pylist():
            try:
                data = read_image_bytes(row, manifest.blob_dirs)
            except (KcliError, ManifestError, OSError) as exc:
                counters[f"failed/unreadable:{type(exc).__name__}"] += 1
                continue
            if not config.keep_exif:
                stripped = strip_metadata(data)
                data = stripped.data
                counters[f"exif/{stripped.action}"] += 1
            caption = caption_of(row, config)
            counters["no_caption"] += not caption
            writer.write(row, data, caption)
            counters["exported"] += 1
        done += batch.num_rows
        notify(options.progress, ProgressEvent("export", done, None, "rows", rows=counters["exported"]))
    counters["not_ok"] = manifest.num_rows - done
    return Counter({k: v for k, v in counters.items() if v or k in ("total", "exported")})


def _extension(row: dict[str, Any]) -> str:
    return FORMAT_EXTENSIONS.get(str(row.get("format") or "").upper(), ".jpg")


def sample_metadata(row: dict[str, Any]) -> dict[str, Any]:
    """The ``.json`` member: every column but the bytes, JSON-safe."""
    return {k: v for k, v in row.items() if k not in LEFT_OUT and not isinstance(v, bytes)}


class WebdatasetWriter:
    def __init__(self, folder: Path, config: ExportConfig) -> None:
        self.tars = TarShardWriter(folder, int(config.shard_size_mb * 1_000_000))

    def write(self, row: dict[str, Any], data: bytes, caption: str) -> None:
        meta = json.dumps(sample_metadata(row), ensure_ascii=False, sort_keys=True, default=str)
        self.tars.write(wds_key(str(row["key"])), {_extension(row).lstrip("."): data, "txt": caption.encode(),
                                                   "json": meta.encode()})

    def close(self) -> list[str]:
        return self.tars.close()

    def pattern(self) -> str | None:
        count = len(self.tars.files)
        return f"shard-{{000000..{count - 1:06d}}}.tar" if count else None


class KohyaWriter:
    def __init__(self, folder: Path, config: ExportConfig) -> None:
        self.sub = kohya_folder(config.repeats, config.concept)
        self.folder = folder / self.sub if self.sub else folder
        self.files: list[str] = []
        self.stems: set[str] = set()

    def write(self, row: dict[str, Any], data: bytes, caption: str) -> None:
        stem = safe_stem(str(row["key"]))
        if stem in self.stems:  # two keys that differ only in "/" vs "__" or "." vs "_"
            stem = f"{stem}-{str(row.get('sha256') or len(self.stems))[:12]}"
        self.stems.add(stem)
        names = write_pair(self.folder, stem, _extension(row), data, caption)
        self.files += [f"{self.sub}/{n}" if self.sub else n for n in names]

    def close(self) -> list[str]:
        return self.files

    def pattern(self) -> str | None:
        return None


def _writer(target: Path, config: ExportConfig) -> WebdatasetWriter | KohyaWriter:
    return WebdatasetWriter(target, config) if config.format == "webdataset" else KohyaWriter(target, config)
