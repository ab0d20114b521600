"""Third-party progress bars are off under kcli's own, and left alone for library users."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kdata.quiet import ENVIRONMENT, KEEP_ENV, silence_third_party_progress
from tests.helpers.cli import kcli, python

TQDM_LINE = re.compile(r"\d+%\||\d+(\.\d+)?(it/s|s/it)\]")  # tqdm's "40%|██" and "[00:01, 2.24it/s]"


def test_the_switches_are_set_for_this_process_and_its_children(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*ENVIRONMENT, KEEP_ENV]:
        monkeypatch.delenv(name, raising=False)
    silence_third_party_progress()
    import os

    assert {name: os.environ[name] for name in ENVIRONMENT} == ENVIRONMENT


def test_a_user_who_asked_for_bars_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEEP_ENV, "1")
    silence_third_party_progress()
    import os

    assert {name: os.environ.get(name) for name in ENVIRONMENT} == {name: None for name in ENVIRONMENT}


def test_libraries_loaded_already_are_silenced_and_library_users_keep_their_bars() -> None:
    # One child process: importing kcli's library code leaves transformers' bars on; the CLI's call turns them off.
    script = ("import os, transformers, kdata.filter.stage, ktrain.lora.generate\n"
              "from transformers.utils import logging\n"
              "print(logging.is_progress_bar_enabled(), os.environ.get('TQDM_DISABLE'))\n"
              "from kdata.quiet import silence_third_party_progress\n"
              "silence_third_party_progress()\n"
              "print(logging.is_progress_bar_enabled(), os.environ.get('TQDM_DISABLE'))\n")
    done = python("-c", script, unset=[*ENVIRONMENT, KEEP_ENV], timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["True None", "False 1"]


@pytest.mark.slow
def test_generate_on_a_tiny_pipeline_shows_no_tqdm_bar(tmp_path: Path) -> None:
    done = kcli("generate", "한옥", "--base", "tiny-sd", "--out", str(tmp_path / "gen"), "--steps", "2",
                unset=[*ENVIRONMENT, KEEP_ENV], timeout=600)
    assert done.returncode == 0, done.stderr
    lines = re.split(r"[\r\n]", done.stderr)
    assert [line for line in lines if TQDM_LINE.search(line)] == []
    assert any("generate" in line and "1/1 images" in line for line in lines)  # kcli's own bar is still there


@pytest.mark.slow
def test_the_preset_smoke_test_draws_no_diffusers_step_bar(tmp_path: Path) -> None:
    # diffusers passes disable=False to its step bar itself: the pipeline's own switch is what turns it off.
    script = ("import sys\nfrom pathlib import Path\nfrom kdata.quiet import silence_third_party_progress\n"
              "silence_third_party_progress()\nfrom kdata.models.smoke import generate_image\n"
              "generate_image(Path(sys.argv[1]))\n")
    done = python("-c", script, str(tmp_path / "a.png"), unset=[*ENVIRONMENT, KEEP_ENV], timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.png").is_file()
    assert [line for line in re.split(r"[\r\n]", done.stderr) if TQDM_LINE.search(line)] == []
