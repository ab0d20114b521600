"""Fixtures for the t2i tests: one torch thread, a tiny LoRA and a tiny encoder folder per session."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.torch_threads import torch_on_one_thread


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine the threads' spin-waits
    make a 64 px render tens of times slower; one thread keeps these tests at seconds."""
    with torch_on_one_thread():
        yield


@pytest.fixture(scope="session")
def tiny_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.t2i.tiny import make_tiny_lora

    return make_tiny_lora(tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="session")
def korean_named_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny LoRA (other weights), served under the name "수묵화 LoRA"."""
    from tests.t2i.tiny import make_tiny_lora

    return make_tiny_lora(tmp_path_factory.mktemp("lora-ko"), seed=1)


@pytest.fixture(scope="session")
def encoder_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.t2i.tiny import make_encoder_folder

    return make_encoder_folder(tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="session")
def serve_process(tiny_lora: Path, korean_named_lora: Path, encoder_folder: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``kcli serve`` in a subprocess on a free loopback port, with the encoder folder and two LoRAs: ``ink``
    and ``수묵화 LoRA``."""
    from tests.t2i.http import start_serve
    from tests.t2i.tiny import KOREAN_LORA

    log = tmp_path_factory.mktemp("serve") / "stderr.log"
    process, ready = start_serve(["--base", "tiny-sd", "--text-encoder", str(encoder_folder),
                                  "--lora", f"ink={tiny_lora}", "--lora", f"{KOREAN_LORA}={korean_named_lora}",
                                  "--max-queue", "4", "--max-steps", "8"], log)
    try:
        yield {"process": process, "url": ready["url"], "ready": ready, "log": log}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C: a graceful shutdown, exit status 0
            try:
                assert process.wait(timeout=30) == 0, log.read_text()[-3000:]
            finally:
                if process.poll() is None:
                    process.kill()


@pytest.fixture(scope="session")
def lora_folder(tiny_lora: Path, korean_named_lora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of trained LoRAs as ``--lora-dir`` reads it: ``ink.safetensors`` and a ``수묵화 LoRA/`` folder."""
    import shutil

    from tests.t2i.tiny import KOREAN_LORA

    folder = tmp_path_factory.mktemp("loras")
    shutil.copy(tiny_lora, folder / "ink.safetensors")
    (folder / KOREAN_LORA).mkdir()
    shutil.copy(korean_named_lora, folder / KOREAN_LORA / "pytorch_lora_weights.safetensors")
    (folder / "notes.txt").write_text("not a LoRA\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def serve_stages_process(lora_folder: Path, encoder_folder: Path,
                         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``kcli serve`` with a LoRA folder, the tiny refiner and upscaler, and a translator (side-by-side)."""
    from tests.t2i.http import start_serve

    log = tmp_path_factory.mktemp("serve-stages") / "stderr.log"
    process, ready = start_serve(["--base", "tiny-sd", "--text-encoder", str(encoder_folder), "--lora-dir",
                                  str(lora_folder), "--refiner", "tiny-sdxl-refiner", "--upscaler",
                                  "tiny-latent-upscaler", "--upscaler-steps", "1", "--translator",
                                  "tiny-translator-ko-en", "--max-steps", "8"], log)
    try:
        yield {"process": process, "url": ready["url"], "ready": ready, "log": log}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                assert process.wait(timeout=30) == 0, log.read_text()[-3000:]
            finally:
                if process.poll() is None:
                    process.kill()
