"""``kcli corpus build``: a parallel-corpus manifest from sentence-pair files, cleaned and split.

Every input row becomes one manifest row (``key``, ``ko``, ``en``, ``source``, ``split``, ``status``,
``reason``, plus ``category`` when an input has one and ``pair_key``): kept with its split, or rejected
with the reason (``field_count=<n>/<header n>`` for a ragged CSV line, ``empty``, ``control_character``,
``identical``, ``wrong_script_ko``, ``wrong_script_en``, ``length_ratio=<r>``,
``duplicate=<key of the first copy>``). The funnel lands in ``stats.json``: ``total``, ``kept``,
``dropped/<reason>``, ``split/<name>`` and ``input/<file>``. An input that would expand past
:class:`CorpusLimits` (an XLSX zip bomb, JSON nested to crash a parser) is refused before any work.

Reading and duplicate detection see all inputs at once (a duplicate can sit in another file); the
per-row decisions then run as a stage on the shared runner, which gives the run record, lineage,
stats and resume like every other stage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from kdata.config import Fraction, checked
from kdata.corpus.clean import CleanRules, check_pair, pair_key, split_of
from kdata.corpus.limits import CorpusLimits
from kdata.corpus.readers import CorpusFile, read_corpus_file
from kdata.errors import ConfigError
from kdata.manifest import file_sha256
from kdata.runner import BatchResult, RunOptions, RunResult, Stage, run_stage
from kdata.schema import PARALLEL, Status
from kdata.textnorm import normalize_text

SHARD_ROWS = 50_000
DUPLICATE_OF = "_duplicate_of"  # working column, decided across files, consumed by the stage
INPUT_REASON = "_input_reason"  # working column: a row rejected while reading (a ragged CSV line)


@dataclass
class CorpusConfig:
    inputs: list[dict[str, str]] = field(default_factory=list)  # path, sha256, ko_col, en_col: resume checks it
    val_fraction: Fraction = 0.05
    rules: CleanRules = field(default_factory=CleanRules)
    limits: CorpusLimits = field(default_factory=CorpusLimits)

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")


@dataclass(frozen=True)
class TableShardSource:
    """A slice of the assembled corpus, as the runner's unit of work."""

    name: str
    table: pa.Table

    def read(self, batch_size: int) -> Iterator[pa.Table]:
        for start in range(0, self.table.num_rows, batch_size):
            yield self.table.slice(start, batch_size)


class CorpusCleanStage(Stage):
    name = "corpus-build"
    kind = PARALLEL

    def process(self, batch: pa.Table) -> BatchResult:
        config: CorpusConfig = self.config
        rows = batch.to_pylist()
        counters: Counter[str] = Counter()
        for row in rows:
            counters[f"input/{row['source']}"] += 1
            reason = row.pop(INPUT_REASON) or check_pair(row["ko"], row["en"], config.rules)
            duplicate_of = row.pop(DUPLICATE_OF)
            if reason is None and duplicate_of is not None:
                reason = f"duplicate={duplicate_of}"
            if reason is None:
                row.update(status=Status.OK, reason=None, split=split_of(row["pair_key"], config.val_fraction))
                counters[f"split/{row['split']}"] += 1
            else:
                row.update(status=Status.REJECTED, reason=reason, split=None)
        # All-null columns come out typeless here; the runner conforms every shard to the parallel schema.
        return BatchResult(pa.Table.from_pylist(rows), counters)


def assemble(files: Sequence[CorpusFile]) -> pa.Table:
    """All inputs as one table of normalised pairs, each later copy of a pair pointing at the first."""
    rows: list[dict[str, Any]] = []
    first_key: dict[str, str] = {}
    names = _unique_names(f.path for f in files)
    for corpus, name in zip(files, names):
        for number, record in enumerate(corpus.rows, start=1):
            ko, en = normalize_text(_text(record.get(corpus.ko_col))), normalize_text(_text(record.get(corpus.en_col)))
            key, identity, reason = f"{name}:{number}", pair_key(ko, en), corpus.reasons.get(number - 1)
            # A ragged line's text may sit in the wrong column: it is no first copy for a good line to lose to.
            duplicate_of = first_key.setdefault(identity, key) if ko and en and not reason else None
            category = record.get("category")
            rows.append({"key": key, "ko": ko, "en": en, "source": name,
                         "category": normalize_text(_text(category)) or None, "pair_key": identity,
                         DUPLICATE_OF: duplicate_of if duplicate_of != key else None,
                         INPUT_REASON: reason})
    names = ("key", "ko", "en", "source", "category", "pair_key", DUPLICATE_OF, INPUT_REASON)
    schema = pa.schema([(n, pa.string()) for n in names])
    return pa.Table.from_pylist(rows, schema=schema)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN from a spreadsheet's empty cell
        return ""
    return str(value)


def _unique_names(paths: Iterator[Path] | Sequence[Path]) -> list[str]:
    names: list[str] = []
    for path in paths:
        name, n = path.name, 2
        while name in names:
            name, n = f"{path.name}#{n}", n + 1
        names.append(name)
    return names


def prepare_corpus_build(
    inputs: Sequence[str | Path],
    *,
    ko_col: str | None = None,
    en_col: str | None = None,
    val_fraction: float = 0.05,
    rules: CleanRules | None = None,
    limits: CorpusLimits | None = None,
) -> tuple[CorpusConfig, pa.Table]:
    """Read every input (finding its Korean and English columns) and assemble the pairs; raises on bad input."""
    if not inputs:
        raise ConfigError("corpus build needs at least one input file")
    config = checked(CorpusConfig, "corpus build", val_fraction=val_fraction, rules=rules or CleanRules(),
                     limits=limits or CorpusLimits())
    files = [read_corpus_file(p, ko_col, en_col, config.limits) for p in inputs]
    config.inputs = [
        {"path": str(f.path.resolve()), "sha256": file_sha256(f.path), "ko_col": f.ko_col, "en_col": f.en_col}
        for f in files
    ]
    return config, assemble(files)


def run_corpus_build(inputs: Sequence[str | Path], out: str | Path, options: RunOptions = RunOptions(), *,
                     ko_col: str | None = None, en_col: str | None = None, val_fraction: float = 0.05,
                     rules: CleanRules | None = None, limits: CorpusLimits | None = None) -> RunResult:
    """Read, assemble, clean and split ``inputs`` into the parallel manifest at ``out``; resumable.

    ``limits`` bounds what an input may expand to (XLSX rows, bytes, packing ratio and cell length, JSON
    depth); an input over one is refused before anything is written.
    """
    config, table = prepare_corpus_build(inputs, ko_col=ko_col, en_col=en_col, val_fraction=val_fraction,
                                         rules=rules, limits=limits)
    starts = range(0, max(table.num_rows, 1), SHARD_ROWS)
    sources = [TableShardSource(f"shard-{i:05d}.parquet", table.slice(start, SHARD_ROWS))
               for i, start in enumerate(starts)]
    return run_stage(CorpusCleanStage, config, sources, out, options=options, inputs=[Path(p) for p in inputs])
