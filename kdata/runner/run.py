"""Run a stage over shards: skip what is done, process the rest, merge stats, write the descriptor.

Re-running the same command after an interruption is the recovery procedure: finished shards (those
with a done marker) are skipped, unfinished ones are redone from scratch, and the descriptor is written
last. ``overwrite=True`` is the only mode that deletes anything, and only in a folder kcli marked as its
output; ``--out`` may not be an input or lie inside or around one, and one run at a time holds it (see
:mod:`kdata.outputs`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.atomic import write_json_atomic
from kdata.errors import ConfigError
from kdata.fspath import is_remote, local_inputs, remote_output
from kdata.manifest import DATA_DIR, Lineage, Manifest, finalize_manifest
from kdata.outputs import check_out_vs_inputs, check_writable_output, output_lock, prepare_output
from kdata.progress import ProgressEvent, notify
from kdata.runner.executors import Executor, StageSpec, make_executor
from kdata.runner.options import RunOptions
from kdata.runner.shard import WORK_DIR, ShardResult, load_done
from kdata.runner.stage import ManifestShardSource, ShardSource, Stage, StageContext
from kdata.runner.stats import merge

RUN_RECORD = "run.json"
STATS = "stats.json"


@dataclass
class RunResult:
    manifest: Manifest
    stats: dict[str, int]
    shards_run: int
    shards_skipped: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": str(self.manifest.path),
            "rows": self.manifest.num_rows,
            "fingerprint": self.manifest.fingerprint,
            "shards_run": self.shards_run,
            "shards_skipped": self.shards_skipped,
            "stats": self.stats,
        }


def resolved_config(config: Any) -> dict[str, Any]:
    """The config as plain data, as recorded in the lineage and compared on resume."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return json.loads(json.dumps(dataclasses.asdict(config), default=str))
    return json.loads(json.dumps(config or {}, default=str))


def manifest_sources(manifest: Manifest) -> list[ShardSource]:
    return [ManifestShardSource(path) for path in manifest.shard_paths]


SourcePlanner = Callable[[Path], Sequence[ShardSource]]


def run_stage(
    stage_cls: type[Stage],
    config: Any,
    sources: Sequence[ShardSource] | SourcePlanner,
    out_dir: str | Path,
    *,
    parent: Manifest | None = None,
    options: RunOptions = RunOptions(),
    blob_dirs: Sequence[Path] = (),
    inputs: Sequence[str | Path] = (),
) -> RunResult:
    """Run ``stage_cls`` over ``sources`` into the manifest at ``out_dir``; resumable.

    ``sources`` may be a planner, called with the output directory once it is claimed for this run: a
    source stage (ingest) stages its input under ``out_dir`` there and returns the shards to run.
    ``options.executor`` is ``local`` (``workers`` processes on this machine) or ``ray`` (``workers`` Ray
    actors on the cluster at ``ray_address``, or on a local Ray); both give the same manifest.
    ``inputs`` are what a source stage reads (a folder, a file): with ``parent`` and its blob stores, the
    output may not be one of them, lie inside one or contain one.
    """
    if is_remote(out_dir):  # built in a local working copy, uploaded at the end (see kdata.fspath)
        with remote_output(out_dir, options.overwrite) as local:
            return run_stage(stage_cls, config, sources, local, parent=parent, options=options,
                             blob_dirs=blob_dirs, inputs=local_inputs(inputs))
    # A bad executor choice fails here, before anything is written.
    runner = make_executor(options.executor, options.workers, address=options.ray_address)
    out = Path(out_dir).resolve()
    config_dict = resolved_config(config)
    lineage = Lineage(
        stage=stage_cls.name,
        config=config_dict,
        parent=str(parent.path) if parent else None,
        parent_fingerprint=parent.fingerprint if parent else None,
    )
    input_blob_dirs = list(blob_dirs) + (parent.blob_dirs if parent else [])
    check_out_vs_inputs(out, [*inputs, *input_blob_dirs, parent.path if parent else None])
    check_writable_output(out)  # before the lock, which would leave its file in a folder that is not ours
    with output_lock(out):
        _prepare_output(out, lineage, options.overwrite)
        if callable(sources):
            sources = sources(out)
        spec = StageSpec(stage_cls, config, StageContext(out, input_blob_dirs), lineage, options.batch_size)
        return _run_shards(runner, spec, sources, options, parent)


def _run_shards(runner: Executor, spec: StageSpec, sources: Sequence[ShardSource], options: RunOptions,
                parent: Manifest | None) -> RunResult:
    stage_cls, out = spec.stage_cls, spec.context.output_dir

    results: dict[str, ShardResult] = {}
    todo: list[ShardSource] = []
    for source in sources:
        done = load_done(out, source.name)
        if done is None:
            todo.append(source)
        else:
            results[source.name] = done
    rows = sum(int(r.entry["rows"]) for r in results.values())
    first = ProgressEvent(stage_cls.name, len(results), len(sources), "shards", rows, skipped=bool(results))
    if todo:
        # The first event draws the progress bars, which start a thread: only once the workers exist, so that
        # they may be forked (see kdata.runner.executors.start_method).
        for result in runner.run(spec, todo, started=lambda: notify(options.progress, first)):
            results[result.name] = result
            rows += int(result.entry["rows"])
            notify(options.progress, ProgressEvent(stage_cls.name, len(results), len(sources), "shards", rows,
                                                   detail=result.name))
    else:
        notify(options.progress, first)

    return _finish(stage_cls, out, sources, results, spec.lineage, parent, len(todo))


def _finish(
    stage_cls: type[Stage],
    out: Path,
    sources: Sequence[ShardSource],
    results: dict[str, ShardResult],
    lineage: Lineage,
    parent: Manifest | None,
    shards_run: int,
) -> RunResult:
    entries = [results[s.name].entry for s in sources]
    stats = merge(results[s.name].counters for s in sources)
    write_json_atomic(out / STATS, stats)
    own_blobs = [out / "blobs"] if (out / "blobs").exists() else []
    manifest = finalize_manifest(
        out, stage_cls.kind, entries, lineage, parent, blob_dirs=own_blobs, extra={"stats": stats}
    )
    return RunResult(manifest, stats, shards_run, len(sources) - shards_run)


def _prepare_output(out: Path, lineage: Lineage, overwrite: bool) -> None:
    """Create ``out`` or resume into it; refuse to mix two different runs in one directory."""
    record_path = out / WORK_DIR / RUN_RECORD
    record = {"stage": lineage.stage, "config": lineage.config, "parent_fingerprint": lineage.parent_fingerprint}
    prepare_output(out, "manifest", overwrite)
    _remove_temporaries(out)
    if record_path.exists():
        previous = json.loads(record_path.read_text(encoding="utf-8"))
        # A resumed run keeps its original start time, so redone shards are byte-identical to what an
        # uninterrupted run writes (the time is part of each shard's lineage metadata).
        lineage.created = previous.pop("created", lineage.created)
        if previous != record:
            changed = _changed_keys(previous, record)
            raise ConfigError(
                f"{out} holds a run with different settings ({', '.join(changed)} changed); "
                "re-run with the same settings to resume, or pass --overwrite to start again"
            )
    write_json_atomic(record_path, {**record, "created": lineage.created})


def _remove_temporaries(out: Path) -> None:
    """Delete what a killed run was writing (``.NAME.tmp-PID-TOKEN``, see kdata.atomic): this run holds the
    output's lock, so no other run is writing there, and the shards those files belonged to are redone.
    (The blob store is left alone: walking it costs a look at every blob, and a blob's temporary file is
    never read.)"""
    work = out / WORK_DIR
    folders = [out, out / DATA_DIR, work, *(path for path in work.rglob("*") if path.is_dir())]
    for folder in folders:
        for leftover in folder.glob(".*.tmp-*"):
            leftover.unlink(missing_ok=True)


def _changed_keys(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    changed = []
    for key in sorted(set(previous) | set(current)):
        if key == "config":
            old, new = previous.get("config", {}), current.get("config", {})
            changed += [f"config.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif previous.get(key) != current.get(key):
            changed.append(key)
    return changed or ["settings"]
