"""The SDXL Korean encoder pair on the tiny SDXL base: it trains (every loss finite, the total falling), and the
export replaces both encoders of an unchanged ``StableDiffusionXLPipeline``, which renders from Korean."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kdata.errors import ConfigError


@pytest.fixture(scope="module")
def korean_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kdata.models.seed_corpus import seed_pairs
    from ktrain.encoder.tokenizer import TokenizerTrainConfig, save_tokenizer, train_clip_bpe

    tokenizer = train_clip_bpe([ko for _, ko in seed_pairs()], TokenizerTrainConfig(vocab_size=800, min_frequency=1))
    return save_tokenizer(tokenizer, tmp_path_factory.mktemp("ko-tokenizer"), {"source": "seed pairs"})


@pytest.fixture(scope="module")
def trained_pair(korean_tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    from kdata.models.seed_corpus import seed_pairs
    from ktrain.encoder.sdxl_pair import SDXLPairConfig, train_sdxl_pair

    pairs = [(ko, en) for en, ko in seed_pairs()[:4]]
    config = SDXLPairConfig(base="tiny-sdxl", tokenizer=str(korean_tokenizer), steps=8, batch_size=4,
                            learning_rate=2e-3, out=str(tmp_path_factory.mktemp("sdxl-pair") / "encoder"))
    return train_sdxl_pair(config, pairs)


@pytest.mark.slow
def test_the_pair_trains_with_finite_falling_losses_on_every_term(trained_pair: object) -> None:
    losses = trained_pair.losses
    assert len(losses) == 8
    assert all(set(step) == {"states", "pooled", "unet", "total"} for step in losses)
    assert all(math.isfinite(value) for step in losses for value in step.values())
    # The same four pairs every step (batch 4 of 4): the pair overfits them, so every term falls.
    for term in ("states", "pooled", "unet", "total"):
        assert losses[-1][term] < losses[0][term], (term, [step[term] for step in losses])


@pytest.mark.slow
def test_the_export_replaces_both_encoders_of_an_unchanged_sdxl_pipeline(trained_pair: object,
                                                                         korean_tokenizer: Path) -> None:
    import torch
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from kdata.models import resolve_model
    from ktrain.encoder.export import load_pipeline

    out = trained_pair.out
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["text_encoder", "text_encoder_2", "tokenizer",
                                                                  "tokenizer_2"]
    info = json.loads((out / "kcli_encoder.json").read_text())
    assert sorted(info["components"]) == ["text_encoder", "text_encoder_2"]
    assert info["components"]["text_encoder_2"]["trained_as"] == "sdxl-pair"
    # What a user writes without kcli: diffusers' and transformers' own classes, no kcli code.
    pipe = StableDiffusionXLPipeline.from_pretrained(
        resolve_model("tiny-sdxl"), text_encoder=CLIPTextModel.from_pretrained(out / "text_encoder"),
        text_encoder_2=CLIPTextModelWithProjection.from_pretrained(out / "text_encoder_2"),
        tokenizer=CLIPTokenizer.from_pretrained(out / "tokenizer"),
        tokenizer_2=CLIPTokenizer.from_pretrained(out / "tokenizer_2"))
    pipe.set_progress_bar_config(disable=True)
    prompt = "한옥 마당에 핀 매화"
    # Both tokenizers are the Korean one (800 tokens), not the teachers' 49,408-token CLIP vocabulary.
    assert len(pipe.tokenizer) == len(pipe.tokenizer_2) == 800
    assert pipe.tokenizer(prompt).input_ids == pipe.tokenizer_2(prompt).input_ids
    image = pipe(prompt, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)
    # kcli's own loader gives the same pipeline, and the Korean prompt steers it: another prompt, another image.
    same = load_pipeline("tiny-sdxl", out)
    same.set_progress_bar_config(disable=True)
    again = same(prompt, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    other = same("눈 내린 겨울 산", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert again.tobytes() == image.tobytes() and other.tobytes() != image.tobytes()


def test_a_base_without_sdxl_conditioning_is_refused(korean_tokenizer: Path, tmp_path: Path) -> None:
    from ktrain.encoder.sdxl_pair import SDXLPairConfig, train_sdxl_pair

    config = SDXLPairConfig(base="tiny-sd", tokenizer=str(korean_tokenizer), out=str(tmp_path / "o"), steps=1)
    with pytest.raises(ConfigError, match="base tiny-sd: its UNet has no text_time conditioning"):
        train_sdxl_pair(config, [("매화", "plum blossom")])


@pytest.mark.slow
def test_cli_trains_the_pair_on_a_manifest_and_records_its_fingerprint(korean_tokenizer: Path, seed_pairs: Path,
                                                                       tmp_path: Path) -> None:
    from tests.helpers.cli import kcli

    out = tmp_path / "pair"
    done = kcli("train", "encoder-sdxl", "--pairs", str(seed_pairs), "--tokenizer", str(korean_tokenizer),
                "--base", "tiny-sdxl", "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--json",
                env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(done.stdout)
    assert payload["steps"] == 2 and math.isfinite(payload["final_loss"]["total"])
    info = json.loads((out / "kcli_encoder.json").read_text())["components"]["text_encoder"]
    assert info["config"]["pairs"] == str(seed_pairs) and len(info["config"]["pairs_fingerprint"]) >= 16
