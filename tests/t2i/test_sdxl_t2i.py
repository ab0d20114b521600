"""The t2i pipelines, ``kcli serve``'s engine and ``kcli eval t2i`` on an SDXL base (tiny-sdxl)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kdata.errors import ConfigError
from kdata.models import resolve_model
from ktrain.t2i.pipelines import T2I_PIPELINES, ModelSet, ModelSpecs
from ktrain.t2i.prompts import Prompt
from ktrain.t2i.render import RenderSettings
from ktrain.t2i.serve.limits import Job
from tests.helpers.cli import kcli
from tests.t2i.tiny import write_prompts

PROMPT = Prompt("hanok-a", "hanok", "눈 내린 한옥 마을", "a hanok village in the snow")
FAST = RenderSettings(steps=2, guidance=7.5, height=64, width=64)


@pytest.fixture(scope="module")
def pair_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-sdxl's own two encoders and tokenizers in the layout ``kcli train encoder-sdxl`` exports."""
    base, out = Path(resolve_model("tiny-sdxl")), tmp_path_factory.mktemp("pair") / "encoder"
    for name in ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"):
        shutil.copytree(base / name, out / name)
    return out


def test_ko_encoder_on_sdxl_swaps_both_encoders_and_matches_the_base_given_its_own(pair_folder: Path) -> None:
    models = ModelSet(ModelSpecs("tiny-sdxl", text_encoder=str(pair_folder)))
    korean, english = models.korean, models.english
    assert korean.unet is english.unet and korean.vae is english.vae
    assert korean.text_encoder is not english.text_encoder and korean.text_encoder_2 is not english.text_encoder_2
    ko = T2I_PIPELINES.get("ko-encoder").run(models, PROMPT, 3, FAST)
    base = T2I_PIPELINES.get("english-reference").run(models, Prompt("x", "x", PROMPT.ko, PROMPT.ko), 3, FAST)
    assert ko.image.size == (64, 64)
    assert np.array_equal(np.asarray(ko.image), np.asarray(base.image))
    assert all(ko.seconds[s] > 0 for s in ("text_encode", "denoise", "decode"))


def test_the_serve_engine_renders_on_sdxl_and_refuses_the_latent_upscaler_at_start(pair_folder: Path) -> None:
    from ktrain.t2i.serve.engine import EngineModels, GenerationEngine
    from ktrain.t2i.stages import StagesConfig

    engine = GenerationEngine("tiny-sdxl", str(pair_folder))
    rendered = engine.generate(Job("한옥 마을", "", 1, 2, 7.5, 64, 64, ()))
    assert rendered.png.startswith(b"\x89PNG") and rendered.seconds["denoise"] > 0
    with pytest.raises(ConfigError, match="^--upscaler tiny-latent-upscaler: the x2 latent upscaler reads SD 1.x"):
        GenerationEngine("tiny-sdxl", extra=EngineModels(stages=StagesConfig(upscaler="tiny-latent-upscaler")))


@pytest.mark.slow  # a kcli process that loads tiny-sdxl and two CLIP models: about 15-25 s under load
def test_eval_t2i_renders_with_an_sdxl_base(pair_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    done = kcli("eval", "t2i", "--base", "tiny-sdxl", "--text-encoder", str(pair_folder), "--out", str(out),
                "--prompts", str(write_prompts(tmp_path / "p.jsonl")), "--pipelines", "ko-encoder,english-reference",
                "--english-clip", "tiny-clip", "--korean-clip", "tiny-clip", "--limit", "1", "--steps", "2",
                "--warmup", "0", "--json", env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(done.stdout)
    assert (payload["generated"], payload["skipped"]) == (2, 0)
    with open(payload["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["pipeline"] for r in rows] == ["ko-encoder", "english-reference"]
    assert all(float(r["clip_ko"]) >= -1 for r in rows)
