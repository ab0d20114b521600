"""Latents and text embeddings, cached on disk so the encoders leave the training loop.

A latent entry is keyed by the VAE's fingerprint, the image's sha256, the bucket, the preprocessing
version and the dtype; a text entry by the text encoder's (and tokenizer's) fingerprint, the caption and
the token length (an SDXL entry holds the concatenated states of both encoders and the pooled
embedding, keyed by both encoders' fingerprints). Change any of them and the key changes, so a stale
entry is never read; keep them and a second epoch or a second run reads the cache instead of re-encoding.

The latent cache stores the VAE posterior's mean and standard deviation, not one sample: each step draws
``mean + std * noise`` from the step's own generator, exactly as ``latent_dist.sample()`` would. A cached
run and an uncached run therefore see the same distribution (and, on CPU, the same numbers).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kdata.atomic import atomic_path
from kdata.progress import ProgressCallback, ProgressEvent, notify
from ktrain.lora.data import PREPROCESS_VERSION, Example, TrainingData, iter_image_bytes, preprocess
from ktrain.lora.models import SDComponents, encode_text_pair
from ktrain.lora.timing import NO_TIMER, StepTimer

ENCODE_BATCH = 8


class CacheFillError(RuntimeError):
    """Filling the cache failed on its worker thread; the cause is chained."""


class PendingKeys:
    """Cache keys a fill running on another thread has yet to write: a reader of one waits until it is written.

    Keys are promised before the fill starts, so a reader can never find an entry missing that is on its
    way; a failed fill wakes every waiter with its error instead of leaving them waiting."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pending: set[str] = set()
        self._error: BaseException | None = None

    def promise(self, keys: Iterable[str]) -> None:
        with self._changed:
            self._pending.update(keys)

    def written(self, keys: Iterable[str]) -> None:
        with self._changed:
            self._pending.difference_update(keys)
            self._changed.notify_all()

    def withdraw(self, keys: Iterable[str]) -> None:
        """Stop promising ``keys`` (a fill that was stopped): a reader finds them missing instead of waiting."""
        self.written(keys)

    def fail(self, error: BaseException) -> None:
        with self._changed:
            self._error = error
            self._changed.notify_all()

    def wait(self, key: str) -> None:
        with self._changed:
            while key in self._pending and self._error is None:
                self._changed.wait()
            if key in self._pending:
                raise CacheFillError(f"filling the cache failed: {self._error!r}") from self._error


class EncodingCache:
    """Tensors in ``<root>/<kind>/<key[:2]>/<key>.safetensors``, each written temp-then-rename."""

    def __init__(self, root: Path, kind: str) -> None:
        self.root = Path(root) / kind
        self.hits = 0
        self.misses = 0
        self.pending = PendingKeys()  # what a background fill has promised and not yet written

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def has(self, key: str) -> bool:
        return self.path(key).exists()

    def load(self, key: str) -> dict[str, Any]:
        from safetensors.torch import load_file

        self.pending.wait(key)
        return load_file(self.path(key))

    def save(self, key: str, tensors: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        with atomic_path(self.path(key)) as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))


def cache_key(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def latent_key(vae_fingerprint: str, example: Example, dtype: Any, flipped: bool = False) -> str:
    mirror = {"flipped": True} if flipped else {}  # unflipped keys stay those of caches written before flips
    return cache_key(vae=vae_fingerprint, image=example.sha256, bucket=list(example.bucket),
                     preprocess=PREPROCESS_VERSION, dtype=str(dtype), **mirror)


def text_key(encoder_fingerprint: str, caption: str, max_length: int, dtype: Any) -> str:
    return cache_key(encoder=encoder_fingerprint, caption=caption, max_length=max_length, dtype=str(dtype))


def mirror(pixels: Any) -> Any:
    """Images (``[..., height, width]``) mirrored left-right: the ``random_flip`` view of a preprocessed image."""
    return pixels.flip(-1)


class LatentSource:
    """The VAE posterior (mean, std) of each example: from the cache, or encoded from the image bytes now.

    With ``flips`` (``random_flip`` > 0) the mirrored image is encoded and cached too, as kohya-ss caches
    both sides for its flip augmentation: a VAE latent is not equivariant enough to mirror in latent space."""

    def __init__(self, data: TrainingData, components: SDComponents, device: Any, dtype: Any,
                 cache: EncodingCache | None, timer: StepTimer = NO_TIMER, flips: bool = False) -> None:
        self.data, self.vae, self.device, self.dtype = data, components.vae, device, dtype
        self.scaling_factor = components.vae.config.scaling_factor
        self.cache, self.timer = cache, timer
        self.sides = (False, True) if flips else (False,)
        self.keys = {side: [latent_key(components.vae_ref.fingerprint, e, dtype, side) for e in data.examples]
                     for side in self.sides}

    def fill(self, indices: Sequence[int], progress: ProgressCallback | None = None) -> int:
        """Encode the examples among ``indices`` whose latents (each side) are not cached yet; returns how many."""
        missing = self.missing(indices)
        self.encode_missing(missing, progress)
        return len(missing)

    def missing(self, indices: Sequence[int]) -> list[int]:
        """The examples among ``indices`` with a side not cached yet (counted as misses, the rest as hits);
        their keys are promised to readers until :meth:`encode_missing` writes them."""
        assert self.cache is not None
        missing = [i for i in indices if not all(self.cache.has(self.keys[side][i]) for side in self.sides)]
        self.cache.hits += len(indices) - len(missing)
        self.cache.misses += len(missing)
        self.cache.pending.promise(self.keys[side][i] for i in missing for side in self.sides)
        return missing

    def encode_missing(self, missing: Sequence[int], progress: ProgressCallback | None = None,
                       first: Sequence[Sequence[int]] = (), stop: threading.Event | None = None) -> int:
        """Encode and cache ``missing`` (from :meth:`missing`): each group of ``first`` (the micro-batches the
        first steps read) in a pass of its own, the rest in manifest order; ``stop`` ends it between batches."""
        assert self.cache is not None
        parts, left = [], set(missing)
        for group in first:
            parts.append([i for i in dict.fromkeys(group) if i in left])
            left -= set(group)
        parts.append(sorted(left))
        done = 0
        for part in parts:
            wanted = {self.data.examples[i].key: i for i in part}
            pending: list[tuple[int, bytes]] = []
            for key, image in iter_image_bytes(self.data.manifest, set(wanted)):
                if stop is not None and stop.is_set():  # the run ended first: what is left is not promised any more
                    self.cache.pending.withdraw(self.keys[side][i] for i in missing for side in self.sides)
                    return done
                pending.append((wanted[key], image))
                if len(pending) == ENCODE_BATCH:
                    done += self._encode_and_store(pending)
                    pending = []
                    notify(progress, ProgressEvent("cache latents", done, len(missing), "images"))
            done += self._encode_and_store(pending)
        # An image the manifest no longer yields was never encoded: its reader fails instead of waiting.
        self.cache.pending.withdraw(self.keys[side][i] for i in missing for side in self.sides)
        if missing:
            notify(progress, ProgressEvent("cache latents", done, len(missing), "images"))
        return done

    def _encode_and_store(self, items: list[tuple[int, bytes]]) -> int:
        by_bucket: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
        for index, image in items:
            by_bucket.setdefault(self.data.examples[index].bucket, []).append((index, image))
        import torch

        for group in by_bucket.values():
            bucket = self.data.examples[group[0][0]].bucket
            pixels = torch.stack([preprocess(image, bucket) for _, image in group])  # decoded once for both sides
            for side in self.sides:
                mean, std = self._encode_pixels(mirror(pixels) if side else pixels)
                for row, (index, _) in enumerate(group):
                    self.cache.save(self.keys[side][index],  # type: ignore[union-attr]
                                    {"mean": mean[row], "std": std[row]})
            self.cache.pending.written(self.keys[side][i] for i, _ in group for side in self.sides)  # type: ignore[union-attr]
        return len(items)

    def _encode_pixels(self, pixels: Any) -> tuple[Any, Any]:
        import torch

        with self.timer.section("vae_encode"), torch.no_grad():
            dist = self.vae.encode(pixels.to(self.device, self.dtype)).latent_dist
        return dist.mean, dist.std

    def distribution(self, indices: Sequence[int], flips: Sequence[bool] | None = None) -> tuple[Any, Any]:
        import torch

        flips = list(flips) if flips is not None else [False] * len(indices)
        if self.cache is not None:
            with self.timer.section("load_cached"):
                entries = [self.cache.load(self.keys[flip][i]) for i, flip in zip(indices, flips)]
                mean = torch.stack([e["mean"] for e in entries]).to(self.device)
                std = torch.stack([e["std"] for e in entries]).to(self.device)
            return mean, std
        examples = [self.data.examples[i] for i in indices]
        with self.timer.section("image_decode"):
            pixels = torch.stack([mirror(image) if flip else image  # type: ignore[arg-type]
                                  for image, flip in zip((preprocess(e.image, e.bucket) for e in examples), flips)])
        return self._encode_pixels(pixels)

    def sample(self, indices: Sequence[int], generator: Any, flips: Sequence[bool] | None = None) -> Any:
        """Scaled latents ``(mean + std * noise) * scaling_factor`` with noise from ``generator``; ``flips``
        picks each example's mirrored side."""
        import torch

        mean, std = self.distribution(indices, flips)
        noise = torch.randn(mean.shape, generator=generator, dtype=torch.float32).to(mean.device, mean.dtype)
        return (mean + std * noise) * self.scaling_factor


class TextSource:
    """Per-token text states (and SDXL's pooled embedding) for captions: cached ones from disk, or the
    (trainable) encoders run now."""

    def __init__(self, components: SDComponents, device: Any, dtype: Any, cache: EncodingCache | None,
                 timer: StepTimer = NO_TIMER) -> None:
        self.components, self.device, self.dtype = components, device, dtype
        self.cache, self.timer = cache, timer
        self.fingerprint = components.text_encoder_ref.fingerprint
        self.trainable = False  # set when the text encoder carries a LoRA being trained

    def key(self, caption: str) -> str:
        return text_key(self.fingerprint, caption, self.components.max_length, self.dtype)

    def fill(self, captions: Sequence[str], progress: ProgressCallback | None = None) -> int:
        missing = self.missing(captions)
        self.encode_missing(missing, progress)
        return len(missing)

    def missing(self, captions: Sequence[str]) -> list[str]:
        """The distinct captions not cached yet (counted as misses), promised to readers until encoded."""
        assert self.cache is not None
        unique = sorted(set(captions))
        missing = [c for c in unique if not self.cache.has(self.key(c))]
        self.cache.hits += len(unique) - len(missing)
        self.cache.misses += len(missing)
        self.cache.pending.promise(self.key(c) for c in missing)
        return missing

    def encode_missing(self, missing: Sequence[str], progress: ProgressCallback | None = None) -> None:
        import torch

        assert self.cache is not None
        for start in range(0, len(missing), ENCODE_BATCH):
            chunk = missing[start : start + ENCODE_BATCH]
            with torch.no_grad():
                states, pooled = encode_text_pair(self.components, chunk, self.device)
            for row, caption in enumerate(chunk):
                entry = {"states": states[row]} if pooled is None else {"states": states[row], "pooled": pooled[row]}
                self.cache.save(self.key(caption), entry)
            self.cache.pending.written(self.key(c) for c in chunk)
            notify(progress, ProgressEvent("cache text", start + len(chunk), len(missing), "captions"))
        return len(missing)

    def encode(self, captions: Sequence[str]) -> Any:
        """The per-token states only (what an SD 1.x UNet reads)."""
        return self.encode_pair(captions)[0]

    def encode_pair(self, captions: Sequence[str]) -> tuple[Any, Any]:
        """(per-token states, pooled embedding or None for SD 1.x)."""
        import torch

        if self.cache is not None:
            with self.timer.section("load_cached"):
                entries = [self.cache.load(self.key(c)) for c in captions]
                states = torch.stack([e["states"] for e in entries]).to(self.device)
                pooled = torch.stack([e["pooled"] for e in entries]).to(self.device) if "pooled" in entries[0] else None
            return states, pooled
        with self.timer.section("text_encode"), torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            return encode_text_pair(self.components, list(captions), self.device)
