"""``kcli caption``: add ``caption_en`` / ``caption_ko`` with provenance, on the shared runner.

Columns added for each configured language ``L``:

- ``caption_L``: the caption, or null;
- ``caption_L_source``: ``model`` / ``translation`` / ``template`` / ``alt_text``, or ``failed``;
- ``caption_L_model``: the model id (as configured), ``template:<hash>`` or ``column:<name>``;
- ``caption_L_prompt_hash``: 12 hex digits of sha256 of the prompt or template, when there is one;
- ``caption_L_reason``: why there is no caption (``no_candidate``, or each backend's error);
- ``caption_L_candidates`` (JSON, with ``collect = "all"`` or re-ranking) and ``caption_L_clip_score``
  (with re-ranking);
- ``caption_L_input``: the value ``caption_L`` had in the input manifest, when it had that column, so
  captioning never loses an archive's own caption (a template can still reuse it: ``"{caption_en}"``).

A caption failure never rejects a row: the image is still good, and another backend, a later run or a
person can caption it. The row stays ``ok`` with a null caption, ``source = "failed"`` and the error in
``caption_L_reason``; ``stats.json`` counts ``caption_L/failed/<backend>``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from kdata.caption.backends.base import Backend, RowItem, Source
from kdata.caption.chain import BatchResolver, Choice
from kdata.caption.config import CaptionConfig, CaptionPlan, load_caption_config
from kdata.caption.plan import build_backends, plan_for_columns
from kdata.manifest import Manifest, open_manifest
from kdata.runner import BatchResult, RunOptions, RunResult, Stage, manifest_sources, run_stage


class CaptionStage(Stage):
    name = "caption"

    @classmethod
    def wants_gpu(cls, plan: CaptionPlan) -> bool:
        """A GPU per worker where a model backend (captioner, translator, re-ranker) runs on ``auto`` (the default)
        or a CUDA device; the Ray executor asks for one only where the cluster has GPUs. Backends without a
        model (templates, alt text, an API translator) never do."""
        config = plan.config
        devices = [getattr(b.config, "device", "cpu") for chain in build_backends(config, skipped=plan.skipped).values()
                   for b in chain]
        devices += [config.rerank.device] if config.rerank else []
        return any(device != "cpu" for device in devices)

    def setup(self) -> None:
        plan: CaptionPlan = self.config
        self.chains: dict[str, list[Backend]] = build_backends(plan.config, skipped=plan.skipped)
        for backend in (b for chain in self.chains.values() for b in chain):
            backend.load()
        self.scorer = None
        if plan.config.rerank is not None:
            from kdata.caption.rerank import ClipReranker

            self.scorer = ClipReranker(plan.config.rerank)
            self.scorer.load()

    def process(self, batch: pa.Table) -> BatchResult:
        config: CaptionConfig = self.config.config
        items = [RowItem(row, self.context.blob_dirs) for row in batch.to_pylist()]
        choices = BatchResolver(self.chains, config, items, self.scorer).resolve()
        counters: Counter[str] = Counter()
        for language, per_row in choices.items():
            batch = _add_language_columns(batch, language, per_row, config)
            counters.update(_count(language, per_row))
        return BatchResult(batch, counters)


def _add_language_columns(table: pa.Table, language: str, choices: list[Choice], config: CaptionConfig) -> pa.Table:
    prefix = f"caption_{language}"
    if prefix in table.column_names and f"{prefix}_input" not in table.column_names:
        table = table.append_column(f"{prefix}_input", table.column(prefix).cast(pa.string()))
    picked = [c.caption for c in choices]
    columns: dict[str, tuple[list[Any], pa.DataType]] = {
        prefix: ([p.text if p else None for p in picked], pa.string()),
        f"{prefix}_source": ([p.source if p else _failed_or_none(c) for p, c in zip(picked, choices)], pa.string()),
        f"{prefix}_model": ([p.model if p else None for p in picked], pa.string()),
        f"{prefix}_prompt_hash": ([p.prompt_hash if p else None for p in picked], pa.string()),
        f"{prefix}_reason": ([c.reason for c in choices], pa.string()),
    }
    if config.collects_all(language):
        candidates = [json.dumps([x.to_dict() for x in c.candidates], ensure_ascii=False) for c in choices]
        columns[f"{prefix}_candidates"] = (candidates, pa.string())
    if config.reranks(language):
        columns[f"{prefix}_clip_score"] = ([p.score if p else None for p in picked], pa.float32())
    for name, (values, dtype) in columns.items():
        table = _set_column(table, name, pa.array(values, type=dtype))
    return table


def _failed_or_none(choice: Choice) -> str | None:
    return Source.FAILED if any(c.error for c in choice.candidates) else None


def _set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    index = table.schema.get_field_index(name)
    if index >= 0:
        return table.set_column(index, name, values)
    return table.append_column(name, values)


def _count(language: str, choices: list[Choice]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for choice in choices:
        if choice.caption is not None:
            counts[f"caption_{language}/{choice.caption.source}"] += 1
        else:
            counts[f"caption_{language}/none"] += 1
        for candidate in choice.candidates:
            if candidate.error:
                counts[f"caption_{language}/failed/{candidate.backend.split(':', 1)[-1]}"] += 1
    return counts


def prepare_caption(manifest: str | Path, config: str | Path | CaptionConfig,
                    sets: list[str] | None = None) -> tuple[Manifest, CaptionPlan]:
    """Open the manifest, load the config (``sets``: ``--set`` items over the file) and check every backend's
    columns; raises before any work."""
    if sets and isinstance(config, CaptionConfig):
        raise ValueError("--set items apply to a config file; build the CaptionConfig with them instead")
    parent = open_manifest(manifest)
    config_file = None
    if not isinstance(config, CaptionConfig):
        config_file = str(Path(config).resolve())
        config = load_caption_config(config, sets)
    return parent, plan_for_columns(config, parent.schema().names, str(parent.path), config_file)


def run_caption(manifest: str | Path, config: str | Path | CaptionConfig, out: str | Path,
                options: RunOptions = RunOptions(), sets: list[str] | None = None) -> RunResult:
    """Caption every ``ok`` row of ``manifest`` into ``out``; resumable. Columns are checked before any model loads."""
    parent, plan = prepare_caption(manifest, config, sets)
    return run_stage(CaptionStage, plan, manifest_sources(parent), out, parent=parent, options=options)
