"""``kcli publish model``: the staged LoRA repo holds what users need, and its card's code runs as written.

The code block is run exactly as the card prints it, in a fresh interpreter, offline, with a Hugging Face
cache laid out as the Hub client leaves it (``models--ORG--NAME/snapshots/<commit>/``) holding the base and
the staged LoRA under the ids the card names: what a reader who downloaded both would have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdata.models import resolve_model
from ktrain.release.usage import code_blocks
from tests.helpers.cli import kcli
from tests.helpers.hub_cache import run_card_code, seed_hub_cache


def test_published_lora_card_code_runs_as_written(trained: tuple[Any, Any], tmp_path: Path) -> None:
    config, _ = trained
    export_card = (Path(config.out) / "README.md").read_text(encoding="utf-8")
    assert str(Path(config.out).parent) not in export_card and "/tmp" not in export_card  # no local paths
    staged = tmp_path / "staged"
    result = kcli("publish", "model", config.out, "--repo-id", "tester/food-lora", "--base-id", "kcli-test/tiny-sd",
                  "--to", staged, "--json")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["kind"] == "lora" and "pytorch_lora_weights.safetensors" in outcome["files"]
    assert not any(name.startswith("checkpoint-") for name in outcome["files"])
    card = (staged / "README.md").read_text(encoding="utf-8")
    assert "base_model: kcli-test/tiny-sd" in card  # the Hub links the LoRA to its base
    [code] = code_blocks(card)
    assert "'tester/food-lora'" in code and "'kcli-test/tiny-sd'" in code and str(tmp_path) not in code

    cache = tmp_path / "hf-cache"
    seed_hub_cache(cache, "kcli-test/tiny-sd", Path(resolve_model("tiny-sd")))
    seed_hub_cache(cache, "tester/food-lora", staged)
    run = run_card_code(code, cache, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "image.png").stat().st_size > 0


def test_a_local_base_needs_its_hub_id(trained: tuple[Any, Any], tmp_path: Path) -> None:
    config, _ = trained
    result = kcli("publish", "model", config.out, "--repo-id", "tester/food-lora", "--to", tmp_path / "staged")
    assert result.returncode == 2
    assert "pass --base-id ORG/NAME" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "staged").exists()


def test_publish_without_a_subcommand_still_publishes_a_dataset(tmp_path: Path) -> None:
    result = kcli("publish", tmp_path / "missing", "--to", tmp_path / "out")
    assert result.returncode == 2 and "manifest" in result.stderr.lower()
