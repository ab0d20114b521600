"""The caches filling on a thread beside the steps: a read waits for its entry, a failed fill is an error."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ktrain.lora.cache import CacheFillError, PendingKeys
from tests.ktrain.lora.helpers import tiny_config


def test_a_read_of_a_promised_key_waits_until_it_is_written() -> None:
    pending = PendingKeys()
    pending.promise(["a", "b"])
    pending.wait("other")  # never promised: no wait
    got: list[str] = []
    reader = threading.Thread(target=lambda: (pending.wait("a"), got.append("a")))
    reader.start()
    pending.written(["b"])
    reader.join(timeout=0.2)
    assert reader.is_alive() and got == []  # "b" written, "a" still on its way
    pending.written(["a"])
    reader.join()
    assert got == ["a"]


def test_a_failed_fill_wakes_its_readers_with_the_error() -> None:
    pending = PendingKeys()
    pending.promise(["a"])
    errors: list[BaseException] = []

    def read() -> None:
        try:
            pending.wait("a")
        except CacheFillError as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    pending.fail(OSError("disk full"))
    reader.join()
    assert len(errors) == 1 and isinstance(errors[0].__cause__, OSError) and "disk full" in str(errors[0])


def test_a_withdrawn_key_is_read_as_missing_instead_of_waited_for() -> None:
    pending = PendingKeys()
    pending.promise(["a"])
    pending.withdraw(["a"])
    pending.wait("a")  # returns: the reader then finds no file, as for any entry never cached


def test_training_fails_with_the_fill_error_when_an_image_cannot_be_encoded(
        food_manifest: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ktrain.lora.cache import LatentSource
    from ktrain.lora.loop import train_lora

    def broken(self: Any, pixels: Any) -> Any:
        raise ValueError("cannot encode")

    monkeypatch.setattr(LatentSource, "_encode_pixels", broken)
    config = tiny_config(food_manifest, tmp_path / "out", tmp_path / "cache", max_steps=1, validation_images=0,
                         validation_prompts=[])
    with pytest.raises(CacheFillError, match="cannot encode"):
        train_lora(config)


def test_entries_the_run_did_not_need_are_left_for_the_next_run(
        food_manifest: Any, tmp_path: Path) -> None:
    """A run stops its fill after its last step; what it did fill is cached and hit by the next run."""
    from ktrain.lora.loop import train_lora

    options = dict(max_steps=1, validation_images=0, validation_prompts=[], checkpointing_steps=1)
    first = train_lora(tiny_config(food_manifest, tmp_path / "a", tmp_path / "cache", **options))
    second = train_lora(tiny_config(food_manifest, tmp_path / "b", tmp_path / "cache", **options))
    assert first.cache["latents/miss"] == 4 and first.cache["latents/hit"] == 0
    written = len(list((tmp_path / "cache" / "latents").rglob("*.safetensors")))
    assert 2 <= written <= 4  # at least the one step's batch of 2
    assert second.cache["latents/hit"] == written and second.cache["latents/miss"] == 4 - written
    assert first.losses == second.losses  # cached or just encoded, the same latents
