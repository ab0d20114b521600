"""The parallel corpus as the encoder trainer sees it: ``ok`` rows of a parallel manifest, split three ways.

The manifest's ``split`` column decides: ``train`` (or empty) rows train, ``validation`` rows pick the
best checkpoint, ``test`` rows are for ``kcli eval encoder --split test``. A manifest without validation
rows gets a deterministic slice of its train rows held out (by a hash of the key, so the slice does not
change when rows are added or reordered). Rows that are not ``ok`` were rejected upstream and are not read.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from kdata.errors import ConfigError
from kdata.manifest import Lineage, Manifest, check_columns, open_manifest, write_manifest
from kdata.schema import PARALLEL, Status, conform_table

TRAIN, VALIDATION, TEST = "train", "validation", "test"
# Spellings other corpus tools use for the same three splits.
SPLIT_ALIASES = {"": TRAIN, "train": TRAIN, "validation": VALIDATION, "val": VALIDATION, "valid": VALIDATION,
                 "dev": VALIDATION, "test": TEST}
COLUMNS = ("key", "ko", "en", "split")


@dataclass
class ParallelPairs:
    """Korean/English sentence pairs, aligned by index."""

    keys: list[str] = field(default_factory=list)
    ko: list[str] = field(default_factory=list)
    en: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, ko: str, en: str) -> None:
        self.keys.append(key)
        self.ko.append(ko)
        self.en.append(en)

    def select(self, indices: list[int]) -> ParallelPairs:
        return ParallelPairs([self.keys[i] for i in indices], [self.ko[i] for i in indices],
                             [self.en[i] for i in indices])


@dataclass
class ParallelCorpus:
    train: ParallelPairs
    validation: ParallelPairs
    test: ParallelPairs
    fingerprint: str
    path: Path
    skipped: dict[str, int] = field(default_factory=dict)  # ok rows not usable: ``skipped/<reason>``

    def split(self, name: str) -> ParallelPairs:
        canonical = SPLIT_ALIASES.get(name)
        if canonical is None:
            raise ConfigError(f"unknown split {name!r}; valid: train, validation, test")
        return getattr(self, canonical)


def held_out(key: str, fraction: float) -> bool:
    """A stable pseudo-random choice per key: the same key is held out on every machine and every run."""
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64
    return bucket < fraction


def load_parallel(path: str | Path, validation_fraction: float = 0.1) -> ParallelCorpus:
    """Read the ``ok`` rows of a parallel manifest into train/validation/test pairs."""
    manifest = _open_parallel(path)
    splits = {TRAIN: ParallelPairs(), VALIDATION: ParallelPairs(), TEST: ParallelPairs()}
    skipped: Counter[str] = Counter()
    for batch in manifest.iter_batches(columns=list(COLUMNS), only_ok=True):
        for key, ko, en, split in zip(*(batch.column(c).to_pylist() for c in COLUMNS)):
            if not (ko or "").strip() or not (en or "").strip():
                skipped["skipped/empty_text"] += 1
                continue
            canonical = SPLIT_ALIASES.get((split or "").strip().lower())
            if canonical is None:
                raise ConfigError(
                    f"{manifest.path}: row {key!r} has split {split!r}; valid: {', '.join(sorted(SPLIT_ALIASES)[1:])}"
                )
            splits[canonical].add(key, ko.strip(), en.strip())
    train, validation = splits[TRAIN], splits[VALIDATION]
    if not len(validation) and validation_fraction > 0:
        mask = [held_out(k, validation_fraction) for k in train.keys]
        validation = train.select([i for i, m in enumerate(mask) if m])
        train = train.select([i for i, m in enumerate(mask) if not m])
    if not len(train):
        raise ConfigError(f"{manifest.path}: no usable training pairs (status ok, split train, ko and en set)")
    return ParallelCorpus(train, validation, splits[TEST], manifest.fingerprint, manifest.path, dict(skipped))


def _open_parallel(path: str | Path) -> Manifest:
    manifest = open_manifest(path)
    if manifest.kind.name != PARALLEL.name:
        raise ConfigError(f"{manifest.path} is a manifest of kind {manifest.kind.name!r}; the encoder trains on a "
                          "parallel corpus (kind 'parallel': ko/en pairs)")
    check_columns(manifest, COLUMNS)
    return manifest


def write_parallel_manifest(out: str | Path, pairs: list[tuple[str, str]], source: str, validation_every: int = 5,
                            stage: str = "seed-corpus") -> Manifest:
    """Write (english, korean) pairs as a parallel manifest; every ``validation_every``-th pair is validation."""
    rows = [
        {"key": f"{source}-{i:05d}", "en": en, "ko": ko, "source": source, "status": Status.OK,
         "split": VALIDATION if validation_every and i % validation_every == validation_every - 1 else TRAIN}
        for i, (en, ko) in enumerate(pairs)
    ]
    table = conform_table(pa.Table.from_pylist(rows), PARALLEL)
    lineage = Lineage(stage=stage, config={"source": source, "validation_every": validation_every})
    return write_manifest(out, [table], PARALLEL, lineage)


def write_seed_manifest(out: str | Path) -> Manifest:
    """The 50 bundled English/Korean seed pairs (``kdata/models/bilingual_seed.txt``), 40 train / 10 validation."""
    from kdata.models.seed_corpus import seed_pairs

    return write_parallel_manifest(out, list(seed_pairs()), source="bilingual-seed")
