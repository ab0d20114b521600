"""The teacher's outputs for the training pairs, computed once: in memory, in memory-mapped shards on disk, or
not at all (the teacher runs at every step).

The teacher's forward is most of a distillation step's cost (60-70% measured on this project's reference
machine) and its outputs for a fixed text never change, so they are cached. In memory that is
``pairs x 78 x hidden x 4`` bytes: 1.6M seed pairs through SD 1.x's 768-wide encoder come to 383 GB,
so above ``cache_limit_mb`` they go to disk instead:

``<dir>/<teacher fingerprint>/teacher.json`` says what computed them (the teacher's weights and tokenizer,
the hidden layer, the dtype); ``shards/<digest>.states.npy`` (rows x 77 x hidden) and ``.pooled.npy`` (rows x
dim) hold ``shard_rows`` consecutive train pairs each, as plain float32 ``.npy`` files that training reads
through ``np.load(mmap_mode="r")``, a batch's rows at a time. A shard's name is a digest of its pairs' keys
and English texts, so a shard is only ever read for exactly the pairs it was computed from, and runs on the
same corpus and teacher share shards when they share the folder.

Resumable: each shard is written to temporary files, flushed, renamed into place, and only then gets its
done marker (``<digest>.json``, written last, temp-then-rename). A run killed part-way leaves whole shards
with markers, which the next run reuses, and at most one shard without one, which it computes again.
Temporary files of a killed process on this host are removed by the next fill. With several processes
(``accelerate launch``) each fills every N-th missing shard, then all wait for each other.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdata.atomic import write_json_atomic
from kdata.errors import KcliError
from kdata.models.clip_tokenizer import CLIP_CONTEXT_LENGTH
from kdata.progress import ProgressCallback, ProgressEvent, notify
from ktrain.encoder.encoding import encode_texts

FORMAT_VERSION = 1
ENCODE_BATCH = 64  # the teacher's batch when filling a cache (encode_texts' default, so memory and disk agree)
PHASE = "cache teacher"
CACHE_DIR = "teacher-cache"  # under OUT, unless teacher_cache_dir says where

if TYPE_CHECKING:
    from ktrain.encoder.config import EncoderTrainConfig
    from ktrain.encoder.data import ParallelPairs

TeacherOutputs = Any  # OnDemandTeacher | MemoryTeacherCache | DiskTeacherCache: get(indices), device, describe()


def cache_mode(config: EncoderTrainConfig, rows: int, dim: int) -> str:
    """``none``, ``memory`` or ``disk``: ``auto`` picks memory up to ``cache_limit_mb``, disk above."""
    if not config.cache_teacher:
        return "none"
    if config.teacher_cache != "auto":
        return config.teacher_cache
    return "memory" if size_mb(rows, dim) <= config.cache_limit_mb else "disk"


def build_teacher_cache(config: EncoderTrainConfig, encoder: TeacherEncoder, pairs: ParallelPairs, accelerator: Any,
                        progress: ProgressCallback | None = None) -> TeacherOutputs:
    """The teacher's outputs for ``pairs`` (the train split), the way ``config`` asks for them."""
    mode = cache_mode(config, len(pairs), encoder.teacher.config.hidden_size)
    if mode == "none":
        return OnDemandTeacher(encoder, pairs.en)
    if mode == "memory":
        return MemoryTeacherCache.build(encoder, pairs.en)
    root = Path(config.teacher_cache_dir) if config.teacher_cache_dir else Path(config.out) / CACHE_DIR
    with accelerator.main_process_first():  # one process writes teacher.json
        cache = open_disk_cache(root, encoder, pairs.keys, pairs.en, config.teacher_cache_shard_rows,
                                {"teacher": config.teacher, "subfolder": config.text_encoder_subfolder})
    fill(cache, encoder, pairs.en, progress, accelerator.process_index, accelerator.num_processes)
    accelerator.wait_for_everyone()
    check_filled(cache)
    return cache


@dataclass
class TeacherEncoder:
    """What computes the cached values: the frozen teacher, its tokenizer and the layer the UNet reads."""

    teacher: Any
    tokenizer: Any
    hidden_layer: int
    device: Any

    def __call__(self, texts: list[str]) -> tuple[Any, Any]:
        """fp32 CPU tensors (N, tokens, dim), (N, dim)."""
        return encode_texts(self.teacher, self.tokenizer, texts, self.hidden_layer, ENCODE_BATCH, self.device)

    def fingerprint(self) -> str:
        """sha256 over the teacher's weights (names, shapes, dtypes, bytes), its tokenizer and the layer read."""
        digest = hashlib.sha256(f"kcli-teacher-cache/{FORMAT_VERSION}/{self.hidden_layer}".encode())
        for name, tensor in sorted(self.teacher.state_dict().items()):
            flat = tensor.detach().reshape(-1).contiguous().cpu()
            digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(flat.view(_uint8()).numpy().tobytes())
        digest.update(_tokenizer_text(self.tokenizer).encode())
        return digest.hexdigest()


def _uint8() -> Any:
    import torch

    return torch.uint8


def _tokenizer_text(tokenizer: Any) -> str:
    """The tokenizer's vocabulary, merges and pipeline; not the padding and truncation state that each call to it
    sets on a fast tokenizer's backend (that would change the fingerprint once the tokenizer has been used)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("padding", "truncation")}
    else:
        spec = tokenizer.get_vocab()
    length = min(int(tokenizer.model_max_length), CLIP_CONTEXT_LENGTH)
    return json.dumps(spec, sort_keys=True, ensure_ascii=False) + f"/{length}"


@dataclass
class OnDemandTeacher:
    """No cache: the teacher encodes each batch's English when it is asked for."""

    encoder: TeacherEncoder
    texts: list[str]
    mode: str = "none"

    @property
    def device(self) -> Any:
        return self.encoder.device

    def get(self, indices: list[int]) -> tuple[Any, Any]:
        states, pooled = self.encoder([self.texts[i] for i in indices])
        return states.to(self.device), pooled.to(self.device)

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "rows": len(self.texts)}


@dataclass
class MemoryTeacherCache:
    """All outputs as two tensors in RAM."""

    states: Any
    pooled: Any
    device: Any
    mode: str = "memory"

    @classmethod
    def build(cls, encoder: TeacherEncoder, texts: list[str]) -> MemoryTeacherCache:
        states, pooled = encoder(texts)
        return cls(states, pooled, encoder.device)

    def get(self, indices: list[int]) -> tuple[Any, Any]:
        return self.states[indices].to(self.device), self.pooled[indices].to(self.device)

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "rows": len(self.states), "size_mb": round(size_mb(len(self.states),
                                                                                      self.states.shape[-1]), 1)}


def size_mb(rows: int, dim: int) -> float:
    """What ``rows`` pairs' states and pooled vectors take in fp32."""
    return rows * (CLIP_CONTEXT_LENGTH + 1) * dim * 4 / 2**20


@dataclass
class Shard:
    """``count`` consecutive train pairs from ``start``; ``name`` is the digest of their keys and English."""

    start: int
    count: int
    name: str


def plan_shards(keys: list[str], texts: list[str], shard_rows: int) -> list[Shard]:
    shards = []
    for start in range(0, len(keys), shard_rows):
        digest = hashlib.sha256()
        for key, text in zip(keys[start : start + shard_rows], texts[start : start + shard_rows]):
            digest.update(json.dumps([key, text], ensure_ascii=False).encode() + b"\n")
        shards.append(Shard(start, min(shard_rows, len(keys) - start), digest.hexdigest()[:32]))
    return shards


@dataclass
class DiskTeacherCache:
    """Memory-mapped shards under ``folder`` (one teacher fingerprint); rows are train indices."""

    folder: Path
    shards: list[Shard]
    shard_rows: int
    device: Any
    reused: int = 0  # shards found done when the cache was opened (resume, or another run's)
    mode: str = "disk"
    _open: dict[int, tuple[Any, Any]] = field(default_factory=dict, repr=False)

    @property
    def shard_folder(self) -> Path:
        return self.folder / "shards"

    def paths(self, shard: Shard) -> tuple[Path, Path, Path]:
        base = self.shard_folder / shard.name
        return base.with_suffix(".states.npy"), base.with_suffix(".pooled.npy"), base.with_suffix(".json")

    def is_done(self, shard: Shard) -> bool:
        """The marker is there, names this shard's pairs, and both arrays have the shapes it records."""
        import numpy as np

        states_path, pooled_path, marker = self.paths(shard)
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
            states, pooled = np.load(states_path, mmap_mode="r"), np.load(pooled_path, mmap_mode="r")
        except (OSError, ValueError):
            return False
        shapes = [list(states.shape), list(pooled.shape)]
        return (record.get("name") == shard.name and record.get("rows") == shard.count == len(states) == len(pooled)
                and shapes == [record.get("states_shape"), record.get("pooled_shape")])

    def get(self, indices: list[int]) -> tuple[Any, Any]:
        """The rows of ``indices`` in order, read from the memory maps (only the pages those rows occupy)."""
        import numpy as np
        import torch

        states_rows, pooled_rows = [], []
        for index in indices:
            number, row = divmod(index, self.shard_rows)
            states, pooled = self._arrays(number)
            states_rows.append(states[row])
            pooled_rows.append(pooled[row])
        states = torch.from_numpy(np.stack(states_rows))
        pooled = torch.from_numpy(np.stack(pooled_rows))
        return states.to(self.device), pooled.to(self.device)

    def _arrays(self, number: int) -> tuple[Any, Any]:
        import numpy as np

        if number not in self._open:
            states_path, pooled_path, _ = self.paths(self.shards[number])
            self._open[number] = (np.load(states_path, mmap_mode="r"), np.load(pooled_path, mmap_mode="r"))
        return self._open[number]

    def describe(self) -> dict[str, Any]:
        rows = sum(s.count for s in self.shards)
        dim = self._arrays(0)[0].shape[-1] if self.shards else 0
        return {"mode": self.mode, "rows": rows, "size_mb": round(size_mb(rows, dim), 1), "path": str(self.folder),
                "shards": len(self.shards), "shards_reused": self.reused}


def open_disk_cache(root: Path, encoder: TeacherEncoder, keys: list[str], texts: list[str], shard_rows: int,
                    describe: dict[str, Any]) -> DiskTeacherCache:
    """The cache folder for this teacher under ``root`` (created, with its ``teacher.json``), not yet filled."""
    fingerprint = encoder.fingerprint()
    folder = Path(root) / fingerprint[:24]
    info = folder / "teacher.json"
    if not info.exists():
        write_json_atomic(info, {"fingerprint": fingerprint, "format": FORMAT_VERSION,
                                 "hidden_layer": encoder.hidden_layer, "dtype": "float32",
                                 "tokens": CLIP_CONTEXT_LENGTH, **describe})
    cache = DiskTeacherCache(folder, plan_shards(keys, texts, shard_rows), shard_rows, encoder.device)
    cache.shard_folder.mkdir(parents=True, exist_ok=True)
    return cache


def fill(cache: DiskTeacherCache, encoder: TeacherEncoder, texts: list[str], progress: ProgressCallback | None = None,
         rank: int = 0, world: int = 1) -> int:
    """Compute the shards that are not done; returns how many were found done. With ``world`` processes, process
    ``rank`` computes shards ``rank, rank + world, ...`` of the plan (by position in the plan, not among the missing
    ones: processes that look at the folder at different moments still split it the same way). Progress counts
    pairs, the ones found done included (``skipped``)."""
    _remove_stale_temporaries(cache.shard_folder)
    total = sum(s.count for s in cache.shards)
    done = reused = 0
    for number, shard in enumerate(cache.shards):
        done += shard.count
        if cache.is_done(shard):
            reused += 1
            notify(progress, ProgressEvent(PHASE, done, total, "pairs", skipped=True))
        elif number % world == rank:
            write_shard(cache, shard, encoder, texts[shard.start : shard.start + shard.count])
            notify(progress, ProgressEvent(PHASE, done, total, "pairs", detail=shard.name[:12]))
    cache.reused = reused
    return reused


def write_shard(cache: DiskTeacherCache, shard: Shard, encoder: TeacherEncoder, texts: list[str]) -> None:
    """Encode one shard into temporary memory-mapped files, flush, rename them into place, then mark it done."""
    import numpy as np

    states_path, pooled_path, marker = cache.paths(shard)
    temporaries = [_temporary(states_path), _temporary(pooled_path)]
    try:
        states = pooled = None
        for start in range(0, len(texts), ENCODE_BATCH):
            s, p = encoder(texts[start : start + ENCODE_BATCH])
            if states is None:
                states = np.lib.format.open_memmap(temporaries[0], "w+", np.float32, (len(texts), *s.shape[1:]))
                pooled = np.lib.format.open_memmap(temporaries[1], "w+", np.float32, (len(texts), *p.shape[1:]))
            states[start : start + len(s)] = s.numpy()
            pooled[start : start + len(p)] = p.numpy()
        shapes = {"states_shape": list(states.shape), "pooled_shape": list(pooled.shape)}
        for array in (states, pooled):
            array.flush()
        del states, pooled
        for temporary, final in zip(temporaries, (states_path, pooled_path)):
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        write_json_atomic(marker, {"name": shard.name, "start": shard.start, "rows": shard.count, **shapes})
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def _temporary(path: Path) -> Path:
    """A name no other process (here or on another host sharing the folder) writes to."""
    return path.with_name(f".{path.name}.{socket.gethostname()}-{os.getpid()}.tmp")


def _remove_stale_temporaries(folder: Path) -> None:
    """Temporary files left by killed processes of this host (a live process's are left alone)."""
    host = socket.gethostname()
    for path in folder.glob(".*.tmp"):
        owner = path.name[: -len(".tmp")].rsplit(".", 1)[-1]
        name, _, pid = owner.rpartition("-")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_filled(cache: DiskTeacherCache) -> None:
    """After every process filled its share: all shards must be there (another process may have failed)."""
    missing = [s.name for s in cache.shards if not cache.is_done(s)]
    if missing:
        raise KcliError(f"teacher cache {cache.folder}: {len(missing)} shard(s) were not written "
                        f"(first: {missing[0]}); another process failed while filling it? Run the command again "
                        "to fill the rest")
