"""The export drops into a Stable Diffusion pipeline, and ``kcli eval encoder`` / the CLI groups work end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from kcli.main import app
from ktrain.encoder.evaluate import evaluate_encoder, retrieval_metrics

PROMPT = "한복을 입은 여인이 한옥 마당에 서 있다"


def test_export_loads_as_clip_text_model_and_generates_from_a_korean_prompt(trained: Any) -> None:
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTextModel, CLIPTokenizer

    from kdata.models import resolve_model

    best = Path(trained.exports["best"])
    encoder = CLIPTextModel.from_pretrained(best, subfolder="text_encoder")
    tokenizer = CLIPTokenizer.from_pretrained(best, subfolder="tokenizer")
    pipe = StableDiffusionPipeline.from_pretrained(resolve_model("tiny-sd"), text_encoder=encoder, tokenizer=tokenizer,
                                                   safety_checker=None, requires_safety_checker=False)
    # The pipeline conditions on exactly what our encoder makes of the Korean prompt.
    embeds, _ = pipe.encode_prompt(PROMPT, "cpu", 1, do_classifier_free_guidance=False)
    ids = tokenizer(PROMPT, padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(embeds, encoder(ids).last_hidden_state)
    image = pipe(PROMPT, num_inference_steps=2, height=64, width=64,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)
    info = json.loads((best / "kcli_encoder.json").read_text())["components"]["text_encoder"]
    assert info["teacher"] == "tiny-sd" and info["tokenizer"] == "tokenizer" and info["fingerprint"]


def test_an_export_folder_holds_both_of_sdxls_encoders(trained: Any, tmp_path: Path) -> None:
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from ktrain.encoder.export import export_encoder, load_export_component, pipeline_kwargs

    first, tokenizer, info = load_export_component(trained.exports["final"])
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=4, projection_dim=16, eos_token_id=tokenizer.eos_token_id)
    second = CLIPTextModelWithProjection(config)
    export_encoder(tmp_path, first, tokenizer, {**info, "hidden_layer": -2}, component="text_encoder")
    export_encoder(tmp_path, second, tokenizer, {"hidden_layer": -2}, component="text_encoder_2")
    kwargs = pipeline_kwargs(tmp_path)
    assert sorted(kwargs) == ["text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"]
    assert type(kwargs["text_encoder_2"]).__name__ == "CLIPTextModelWithProjection"  # keeps SDXL's projection
    assert torch.equal(kwargs["text_encoder_2"].text_projection.weight, second.text_projection.weight)


def test_retrieval_metrics_rank_among_all_candidates() -> None:
    teacher = torch.eye(4)
    student = torch.tensor([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 1, 0], [0, 0, 0.9, 1]])
    metrics = retrieval_metrics(student, teacher)
    # Row 1 is as close to candidate 0 as to its own: ties count against, so it is not right at rank 1.
    assert metrics["r_at_1"] == 0.75 and metrics["r_at_5"] == 1.0 and metrics["chance_r_at_1"] == 0.25
    assert metrics["mean_cosine"] == pytest.approx((1 + 0.5**0.5 + 1 + 1 / 1.81**0.5) / 4, rel=1e-4)


def test_eval_matches_training_validation_and_beats_the_untrained_reference(trained: Any,
                                                                          bundled_pairs: Path) -> None:
    best = trained.exports["best"]
    result = evaluate_encoder(best, bundled_pairs, "tiny-sd", num_latents=1, timesteps=(200, 600), latent_size=8,
                              reference=True)
    info = json.loads((Path(best) / "kcli_encoder.json").read_text())["components"]["text_encoder"]
    for key in ("r_at_1", "r_at_5", "mean_cosine", "denoise_mse"):
        assert result[key] == pytest.approx(info["validation"][key], rel=1e-4), key
    reference = result["reference"]  # the teacher reading Korean through byte fallback: no training at all
    assert result["r_at_1"] > reference["r_at_1"] and result["mean_cosine"] > reference["mean_cosine"]
    assert result["denoise_mse"] < reference["denoise_mse"] / 2
    assert result["denoise_relative"] == pytest.approx(result["denoise_mse"] / result["null_denoise_mse"])


def test_cli_tokenizer_train_and_eval_encoder_json(trained: Any, seed_pairs: Path, bundled_pairs: Path,
                                                   tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["tokenizer", "train", "--pairs", str(seed_pairs), "--out", str(tmp_path / "tok"),
                               "--vocab-size", "600", "--min-frequency", "1", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["vocab_size"] == 600
    done = runner.invoke(app, ["eval", "encoder", "--model", trained.exports["final"], "--pairs", str(bundled_pairs),
                               "--teacher", "tiny-sd", "--latents", "1", "--latent-size", "8", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["pairs"] == 11 and result["split"] == "validation" and 0 <= result["r_at_1"] <= 1


def test_cli_train_encoder_runs_resumes_and_reports(seed_pairs: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["train", "encoder", "--pairs", str(seed_pairs), "--teacher", "tiny-sd", "--out", str(tmp_path / "run"),
            "--batch-size", "4", "--lr", "1e-3", "--set", "min_frequency=1", "--set", "vocab_size=2000",
            "--set", "unet_latent_size=8", "--set", "eval_latents=1", "--set", "eval_timesteps=[500]",
            "--set", "checkpoint_every=1", "--json"]
    done = runner.invoke(app, [*base, "--max-steps", "1"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["steps"] == 1
    again = runner.invoke(app, [*base, "--max-steps", "1"])
    assert again.exit_code != 0 and "already holds a training run" in str(again.exception)
    config = tmp_path / "enc.toml"
    config.write_text("max_steps = 2\n")
    done = runner.invoke(app, [*base, "--config", str(config), "--resume", "latest"])
    assert done.exit_code != 0 and "other settings (max_steps)" in str(done.exception)  # the schedule depends on it
