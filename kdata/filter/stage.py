"""The two runner stages of ``kcli filter``.

1. :class:`ScoreStage` (per row, in parallel): decode, measure quality, embed, score, apply the rules.
   It writes an internal *scored* manifest under the output's work directory: every column except the
   inline image bytes (the final pass takes those from the input, so they are never stored twice),
   plus the embeddings the global pass needs.
2. :class:`ApplyStage` (per row again, after the global pass): reads each input shard beside its scored
   shard, applies the global decisions (percentile thresholds, duplicates) and drops the internal
   columns. Its output is the filter's manifest. The runner hands a stage only ``ok`` rows, so the
   percentile rules that rows rejected in pass 1 also fail are added to their ``filter_failed`` by the
   source (:class:`JoinedShardSource`), which sees every row.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kdata.errors import ManifestError
from kdata.filter.config import FilterConfig, RuleConfig
from kdata.filter.plan import needed_scores
from kdata.filter.quality import IDENTITY_COLUMNS, METRIC_COLUMNS, QUALITY_FIELDS
from kdata.filter.registry import FilterSpec
from kdata.filter.scoring import ScoringModels, clip_scores, embed, text_of
from kdata.runner import BatchResult, Stage
from kdata.schema import Status

EMBEDDING_COLUMN = "_clip_embedding"  # internal to the scored manifest; the final one has embedding_ref
DECISIONS_FILE = Path("_work") / "filter" / "decisions.parquet"


def score_fields(config: FilterConfig, dim: int | None) -> pa.Schema:
    """The columns the score stage adds, fixed per config so every shard has the same schema.

    Quality metrics only when a rule reads them, identity hashes only when dedup uses them (the contract
    is in the README's filter section): a CLIP-score-only config does not pay for the metrics.
    """
    metrics, identity = needed_scores(config)
    wanted = (METRIC_COLUMNS if metrics else ()) + (IDENTITY_COLUMNS if identity else ())
    fields = [pa.field("width", pa.int32()), pa.field("height", pa.int32()), pa.field("file_size", pa.int64()),
              pa.field("format", pa.string()),
              *[f for f in QUALITY_FIELDS if f.name in wanted]]
    if config.uses_clip:
        fields += [pa.field("clip_score", pa.float32()), pa.field("clip_model", pa.string()),
                   pa.field("clip_text_column", pa.string()), pa.field("embedding_ref", pa.string()),
                   pa.field(EMBEDDING_COLUMN, pa.list_(pa.float32(), dim or -1))]
    if config.aesthetic.weights:
        fields += [pa.field("aesthetic_score", pa.float32()), pa.field("aesthetic_model", pa.string())]
    if config.safety.scorer:
        fields += [pa.field("nsfw_score", pa.float32()), pa.field("nsfw_model", pa.string())]
    fields += [pa.field("filter_failed", pa.string())]
    return pa.schema(fields)


def apply_rules(row: dict[str, Any], rules: Sequence[tuple[RuleConfig, FilterSpec]]) -> tuple[str | None, list[str]]:
    """The first failing rule's reason, and the names of every rule in scope that the row fails."""
    reason, failed = None, []
    for rule, spec in rules:
        if not rule.applies(row):
            continue
        verdict = spec.check(row, rule.params)
        if verdict is not None:
            failed.append(rule.name)
            reason = reason or verdict
    return reason, failed


class ScoreStage(Stage):
    name = "filter-score"

    @classmethod
    def wants_gpu(cls, config: FilterConfig) -> bool:
        from kdata.filter.safety import SCORERS

        reads_images = bool(config.safety.scorer) and not SCORERS.get(config.safety.scorer).needs_clip
        return (config.uses_clip and config.clip.device != "cpu") or (reads_images and config.safety.device != "cpu")

    def setup(self) -> None:
        config: FilterConfig = self.config
        self.rules = [(rule, config.spec(rule)) for rule in config.rules]
        self.models = ScoringModels.load(config)
        self.pool = ThreadPoolExecutor(config.clip.prefetch_threads, thread_name_prefix="filter-decode")
        self.fields = score_fields(config, self.models.clip.dim if self.models.clip else None)

    def process(self, batch: pa.Table) -> BatchResult:
        config: FilterConfig = self.config
        rows = batch.to_pylist()
        scores = embed(rows, self.models, config, self.pool, self.context.blob_dirs)
        values = [self._row_values(row, item) for row, item in zip(rows, scores.prepared)]
        self._add_model_scores(rows, values, scores)
        for row, new in zip(rows, values):
            if new.get("status") != Status.FAILED:
                reason, failed = apply_rules({**row, **new}, self.rules)
                new.update(status=Status.REJECTED if reason else Status.OK, reason=reason,
                           filter_failed=",".join(failed) or None)
        return BatchResult(_with_columns(batch, values, self.fields), scores.counters)

    def _row_values(self, row: dict[str, Any], item: Any) -> dict[str, Any]:
        if item.error is not None:
            return {"status": Status.FAILED, "reason": item.error}
        new = dict(item.values)
        # Keep what earlier stages recorded; fill only what is missing.
        for column in ("width", "height", "format", "phash"):
            if row.get(column) is not None:
                new[column] = row[column]
        new["_sha"] = item.sha256
        return new

    def _add_model_scores(self, rows: list[dict[str, Any]], values: list[dict[str, Any]], scores: Any) -> None:
        models, config = self.models, self.config
        live = [i for i, v in enumerate(values) if v.get("status") != Status.FAILED]
        if not live:
            return
        images = np.stack([scores.embeddings[values[i]["_sha"]] for i in live]) if models.clip else None
        if models.clip is not None and images is not None:
            picked = [text_of(rows[i], config.clip.text_columns) for i in live]
            sims = clip_scores(models.clip, images, [t for t, _ in picked])
            for i, sim, (_, column), vector in zip(live, sims, picked, images):
                values[i].update(clip_score=sim, clip_model=models.clip.model_id, clip_text_column=column,
                                 embedding_ref=models.cache.ref(values[i]["_sha"]), **{EMBEDDING_COLUMN: vector})
        if models.aesthetic is not None:
            for i, score in zip(live, models.aesthetic.score(images)):
                values[i].update(aesthetic_score=float(score), aesthetic_model=models.aesthetic_id)
        if models.safety is not None:
            data = [scores.prepared[i].data for i in live]
            for i, score in zip(live, models.safety.score(images, data)):
                values[i].update(nsfw_score=float(score), nsfw_model=models.safety.model_id)


def _with_columns(batch: pa.Table, values: list[dict[str, Any]], fields: pa.Schema) -> pa.Table:
    """``batch`` with status/reason and ``fields`` set from ``values``; inline bytes left out."""
    table = batch
    if "image_bytes" in table.column_names:  # taken from the input again by ApplyStage
        index = table.column_names.index("image_bytes")
        table = table.set_column(index, "image_bytes", pa.nulls(len(table), pa.binary()))
    status = [v.get("status", Status.OK) for v in values]
    reason = [v.get("reason") for v in values]
    table = _put(table, pa.field("status", pa.string()), pa.array(status, pa.string()))
    table = _put(table, pa.field("reason", pa.string()), pa.array(reason, pa.string()))
    for field in fields:
        column = [v.get(field.name) for v in values]
        if field.name in ("width", "height", "format"):
            column = [c if c is not None else o for c, o in zip(column, batch.column(field.name).to_pylist())]
        table = _put(table, field, pa.array(column, field.type))
    return table


def _put(table: pa.Table, field: pa.Field, column: pa.Array) -> pa.Table:
    if field.name in table.column_names:
        return table.set_column(table.column_names.index(field.name), field, column)
    return table.append_column(field, column)


def read_decisions(path: Path) -> dict[str, tuple[str | None, str | None, str | None, str | None]]:
    """The global pass's decisions by key: (reason, duplicate_of, filter_failed, dup_keep_reason); None leaves
    a value as is."""
    stat = path.stat()
    return _read_decisions(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)  # once per worker, not once per shard
def _read_decisions(path: str, mtime_ns: int, size: int) -> dict[str, tuple[str | None, str | None, str | None,
                                                                            str | None]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = [table.column(c).to_pylist() if c in table.column_names else [None] * table.num_rows
               for c in ("key", "reason", "duplicate_of", "filter_failed", "dup_keep_reason")]
    return {key: tuple(rest) for key, *rest in zip(*columns)}  # type: ignore[misc]


@dataclass(frozen=True)
class JoinedShardSource:
    """An input shard read beside its scored shard: scored columns, with the input's inline bytes.

    With ``decisions``, every row's ``filter_failed`` (rejected rows' too) gets the global pass's additions.
    """

    input_path: Path
    scored_path: Path
    decisions: Path | None = None

    @property
    def name(self) -> str:
        return self.input_path.name

    def read(self, batch_size: int) -> Iterator[pa.Table]:
        from kdata.manifest import iter_shard_batches

        originals = _rows_in_slices(iter_shard_batches(self.input_path, columns=["key", "image_bytes"],
                                                       batch_size=batch_size)) if self._inline() else None
        if originals is not None:
            next(originals)  # prime the generator
        for scored in iter_shard_batches(self.scored_path, batch_size=batch_size):
            table = pa.Table.from_batches([scored])
            table = table.drop_columns([c for c in table.column_names if c.startswith("_")])
            if originals is not None:
                original = None
                with contextlib.suppress(StopIteration):
                    original = originals.send(table.num_rows)
                if original is None or original.column("key").to_pylist() != table.column("key").to_pylist():
                    raise ManifestError(f"{self.scored_path} does not match {self.input_path}; "
                                        "re-run with --overwrite")
                table = table.set_column(table.column_names.index("image_bytes"), "image_bytes",
                                         original.column("image_bytes"))
            yield self._with_failed_rules(table)

    def _with_failed_rules(self, table: pa.Table) -> pa.Table:
        decided = read_decisions(self.decisions) if self.decisions is not None else {}
        keys = table.column("key").to_pylist()
        if "filter_failed" not in table.column_names or not any(k in decided for k in keys):
            return table
        before = table.column("filter_failed").to_pylist()
        after = [decided[k][2] or b if k in decided else b for k, b in zip(keys, before)]
        return _put(table, pa.field("filter_failed", pa.string()), pa.array(after, pa.string()))

    def _inline(self) -> bool:
        import pyarrow.parquet as pq

        return "image_bytes" in pq.read_schema(self.input_path).names


def _rows_in_slices(batches: Iterator[pa.RecordBatch]) -> Any:
    """A generator that answers ``send(n)`` with the next ``n`` rows, whatever the batch boundaries."""
    buffer = pa.table({"key": pa.array([], pa.string()), "image_bytes": pa.array([], pa.binary())})
    wanted = yield None
    for batch in batches:
        buffer = pa.concat_tables([buffer, pa.Table.from_batches([batch]).cast(buffer.schema)])
        while wanted is not None and buffer.num_rows >= wanted:
            head, buffer = buffer.slice(0, wanted), buffer.slice(wanted)
            wanted = yield head.combine_chunks()
    while wanted is not None and buffer.num_rows >= wanted:
        head, buffer = buffer.slice(0, wanted), buffer.slice(wanted)
        wanted = yield head.combine_chunks()


class ApplyStage(Stage):
    """Marks the rows the global pass decided against, and why each duplicate group's copy was kept."""

    name = "filter"

    def setup(self) -> None:
        decided = read_decisions(self.context.output_dir / DECISIONS_FILE)
        self.decisions = {key: (reason, duplicate) for key, (reason, duplicate, _, _) in decided.items()
                          if reason is not None}
        self.kept_because = {key: why for key, (_, _, _, why) in decided.items() if why is not None}

    def process(self, batch: pa.Table) -> pa.Table:
        table = batch
        keys = table.column("key").to_pylist()
        status = table.column("status").to_pylist()
        reason = table.column("reason").to_pylist()
        duplicate_of: list[str | None] = [None] * len(keys)
        for i, key in enumerate(keys):
            decided = self.decisions.get(key)
            if decided is not None:
                status[i], reason[i], duplicate_of[i] = Status.REJECTED, decided[0], decided[1]
        table = _put(table, pa.field("status", pa.string()), pa.array(status, pa.string()))
        table = _put(table, pa.field("reason", pa.string()), pa.array(reason, pa.string()))
        table = _put(table, pa.field("duplicate_of", pa.string()), pa.array(duplicate_of, pa.string()))
        why = [self.kept_because.get(key) for key in keys]
        return _put(table, pa.field("dup_keep_reason", pa.string()), pa.array(why, pa.string()))

