"""``kcli publish model`` on an encoder export: the card it writes runs as written, offline, from the Hub ids."""

from __future__ import annotations

import json
from pathlib import Path

from kdata.models import resolve_model
from ktrain.release.usage import code_blocks
from tests.helpers.cli import kcli
from tests.helpers.hub_cache import run_card_code, seed_hub_cache


def _export(out: Path) -> Path:
    """An encoder export folder holding tiny-sd's own text encoder (the layout is what is under test)."""
    from transformers import CLIPTextModel, CLIPTokenizer

    from ktrain.encoder.export import export_encoder

    base = Path(resolve_model("tiny-sd"))
    model = CLIPTextModel.from_pretrained(base, subfolder="text_encoder")
    tokenizer = CLIPTokenizer.from_pretrained(base, subfolder="tokenizer")
    info = {"teacher": "tiny-sd", "step": 3, "fingerprint": "f" * 64, "validation": {"mean_cosine": 0.91}}
    return export_encoder(out, model, tokenizer, info)


def test_published_encoder_card_code_runs_as_written(tmp_path: Path) -> None:
    export = _export(tmp_path / "best")
    staged = tmp_path / "staged"
    result = kcli("publish", "model", export, "--repo-id", "tester/ko-encoder", "--base-id", "kcli-test/tiny-sd",
                  "--to", staged, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "encoder"
    card = (staged / "README.md").read_text(encoding="utf-8")
    assert "base_model: kcli-test/tiny-sd" in card and "mean_cosine 0.91" in card and str(tmp_path) not in card
    [code] = code_blocks(card)
    assert 'subfolder="text_encoder"' in code and "'tester/ko-encoder'" in code

    cache = tmp_path / "hf-cache"
    seed_hub_cache(cache, "kcli-test/tiny-sd", Path(resolve_model("tiny-sd")))
    seed_hub_cache(cache, "tester/ko-encoder", staged)
    run = run_card_code(code, cache, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "image.png").stat().st_size > 0


def test_an_encoder_from_a_preset_teacher_needs_the_base_id(tmp_path: Path) -> None:
    result = kcli("publish", "model", _export(tmp_path / "best"), "--repo-id", "tester/ko-encoder",
                  "--to", tmp_path / "staged")
    assert result.returncode == 2 and "pass --base-id ORG/NAME" in result.stderr


def test_a_folder_that_is_no_model_is_one_line(tmp_path: Path) -> None:
    result = kcli("publish", "model", tmp_path, "--repo-id", "tester/x", "--to", tmp_path / "staged")
    assert result.returncode == 2 and "neither a kcli LoRA" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
