"""Bases: only the files a pipeline loads from a Hub repository, and single-file checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from kdata.errors import ConfigError, KcliError
from kdata.models import resolve_model
from ktrain.lora.bases import SD1, SDXL, base_family, fallback_patterns, pipeline_files, resolve_base
from ktrain.lora.generate import GenerateConfig, generate
from tests.ktrain.lora.single_file import write_single_file

# The file list of stable-diffusion-v1-5/stable-diffusion-v1-5 (formerly runwayml/stable-diffusion-v1-5).
SD15_FILES = [
    ".gitattributes", "README.md", "feature_extractor/preprocessor_config.json", "model_index.json",
    "safety_checker/config.json", "safety_checker/model.fp16.safetensors", "safety_checker/model.safetensors",
    "safety_checker/pytorch_model.bin", "safety_checker/pytorch_model.fp16.bin", "scheduler/scheduler_config.json",
    "text_encoder/config.json", "text_encoder/model.fp16.safetensors", "text_encoder/model.safetensors",
    "text_encoder/pytorch_model.bin", "text_encoder/pytorch_model.fp16.bin", "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
    "unet/config.json", "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.fp16.bin",
    "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.non_ema.bin",
    "unet/diffusion_pytorch_model.non_ema.safetensors", "unet/diffusion_pytorch_model.safetensors",
    "v1-5-pruned-emaonly.ckpt", "v1-5-pruned-emaonly.safetensors", "v1-5-pruned.ckpt", "v1-5-pruned.safetensors",
    "v1-inference.yaml", "vae/config.json", "vae/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.fp16.bin",
    "vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors",
]
CONFIGS = ["model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json", "tokenizer/merges.txt",
           "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
           "unet/config.json", "vae/config.json"]
SHARDS = ["vae/diffusion_pytorch_model-00001-of-00002.safetensors",
          "vae/diffusion_pytorch_model-00002-of-00002.safetensors",
          "vae/diffusion_pytorch_model.safetensors.index.json"]
PROMPT = "한복을 입은 여인"


def test_sd15_downloads_one_set_of_diffusers_weights() -> None:
    assert pipeline_files("org/sd15", SD15_FILES) == sorted(CONFIGS + [
        "text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors"])


# Part of the file list of stabilityai/stable-diffusion-xl-base-1.0: the diffusers folders (with fp16, Flax and
# OpenVINO copies), the original single files, and an example LoRA.
SDXL_FILES = [
    "model_index.json", "scheduler/scheduler_config.json", "sd_xl_base_1.0.safetensors",
    "sd_xl_offset_example-lora_1.0.safetensors", "text_encoder/config.json", "text_encoder/flax_model.msgpack",
    "text_encoder/model.fp16.safetensors", "text_encoder/model.safetensors", "text_encoder/openvino_model.bin",
    "text_encoder_2/config.json", "text_encoder_2/model.fp16.safetensors", "text_encoder_2/model.safetensors",
    "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json", "tokenizer_2/merges.txt", "tokenizer_2/special_tokens_map.json",
    "tokenizer_2/tokenizer_config.json", "tokenizer_2/vocab.json", "unet/config.json",
    "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors",
    "unet/openvino_model.xml", "vae/config.json", "vae/diffusion_pytorch_model.fp16.safetensors",
    "vae/diffusion_pytorch_model.safetensors", "vae_1_0/config.json", "vae_1_0/diffusion_pytorch_model.safetensors",
]


def test_sdxl_downloads_both_text_encoders_and_tokenizers_once() -> None:
    picked = pipeline_files("org/sdxl", SDXL_FILES, "fp16")
    assert picked == sorted([
        "model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
        "text_encoder/model.fp16.safetensors", "text_encoder_2/config.json", "text_encoder_2/model.fp16.safetensors",
        *(f for f in SDXL_FILES if f.startswith(("tokenizer/", "tokenizer_2/"))), "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors", "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors"])


def test_base_family_reads_model_index_and_single_file_keys(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    assert base_family(Path(resolve_model("tiny-sdxl"))) == SDXL
    assert base_family(Path(resolve_model("tiny-sd"))) == SD1
    path = tmp_path / "xl.safetensors"
    save_file({"model.diffusion_model.x": torch.zeros(1), "conditioner.embedders.1.model.ln_final.weight":
               torch.zeros(1)}, str(path))
    assert base_family(path) == SDXL and resolve_base(str(path)) == path
    refiner = tmp_path / "refiner"  # laid out as stabilityai/stable-diffusion-xl-refiner-1.0: one text encoder
    for folder in ("unet", "vae", "text_encoder_2", "tokenizer_2"):
        (refiner / folder).mkdir(parents=True)
    (refiner / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLImg2ImgPipeline"}))
    with pytest.raises(ConfigError, match=r"refiner or partial SDXL folder \(no text_encoder/\); needs an SDXL base"):
        resolve_base(str(refiner))


def test_sd15_fp16_variant_downloads_the_half_precision_files() -> None:
    assert pipeline_files("org/sd15", SD15_FILES, "fp16") == sorted(CONFIGS + [
        "text_encoder/model.fp16.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors"])


@pytest.mark.parametrize(("files", "variant", "weights"), [
    # .bin only where a component has no safetensors
    (["vae/diffusion_pytorch_model.bin"], None, ["vae/diffusion_pytorch_model.bin"]),
    # a component without the variant falls back to its full-precision file, as diffusers does
    (["vae/diffusion_pytorch_model.safetensors"], "fp16", ["vae/diffusion_pytorch_model.safetensors"]),
    # sharded weights with their index
    ([*SHARDS, "vae/diffusion_pytorch_model.bin"], None, SHARDS),
])
def test_weights_are_picked_per_component(files: list[str], variant: str | None, weights: list[str]) -> None:
    base = [f for f in SD15_FILES if not f.startswith("vae/")] + ["vae/config.json"]
    picked = pipeline_files("org/repo", base + files, variant)
    assert [f for f in picked if f.startswith("vae/")] == ["vae/config.json", *weights]


@pytest.mark.parametrize(("files", "variant", "message"), [
    (["v1-5-pruned-emaonly.safetensors", "README.md"], None, "not a diffusers repository (no model_index.json)"),
    ([f for f in SD15_FILES if ".fp16." not in f], "fp16", "no 'fp16' variant of the weights"),
    ([f for f in SD15_FILES if not f.startswith("unet/diffusion")], None, "no unet weights"),
])
def test_unusable_repositories_are_refused_before_download(files: list[str], variant: str | None,
                                                           message: str) -> None:
    with pytest.raises(ConfigError, match="--base org/repo: ") as error:
        pipeline_files("org/repo", files, variant)
    assert message in str(error.value)


@pytest.mark.parametrize("variant", [None, "fp16"])
def test_resolve_base_passes_exactly_those_files_to_snapshot_download(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path, variant: str | None) -> None:
    import huggingface_hub

    calls: list[tuple[str, list[str]]] = []

    def fake_download(repo_id: str, allow_patterns: list[str]) -> str:
        calls.append((repo_id, allow_patterns))
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo_id: list(SD15_FILES))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert resolve_base("org/sd15", variant) == tmp_path
    assert calls == [("org/sd15", pipeline_files("org/sd15", SD15_FILES, variant))]


def test_offline_resolve_base_asks_the_cache_for_the_standard_files(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    import huggingface_hub
    from huggingface_hub.errors import OfflineModeIsEnabled

    def offline(repo_id: str) -> list[str]:
        raise OfflineModeIsEnabled("offline")

    calls: list[list[str]] = []
    monkeypatch.setattr(huggingface_hub, "list_repo_files", offline)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, allow_patterns: calls.append(
        allow_patterns) or str(tmp_path))
    assert resolve_base("org/sd15", "fp16") == tmp_path
    assert calls == [fallback_patterns("fp16")]
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in calls[0]
    assert not any(p.endswith((".bin", ".ckpt")) or "*.safetensors" in p for p in calls[0])


@pytest.fixture(scope="module")
def single_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-sd as one A1111-style checkpoint: original-layout keys, one .safetensors file."""
    return write_single_file(resolve_model("tiny-sd"), tmp_path_factory.mktemp("single") / "tiny-sd.safetensors")


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


def test_single_file_base_generates_the_folders_image(single_file: Path, tmp_path: Path) -> None:
    settings: dict[str, Any] = {"prompts": [PROMPT], "steps": 2, "seed": 3, "negative_prompt": "흐릿한"}
    folder = generate(GenerateConfig(base="tiny-sd", out=str(tmp_path / "folder"), **settings))
    single = generate(GenerateConfig(base=str(single_file), base_config="tiny-sd", out=str(tmp_path / "single"),
                                     **settings))
    np.testing.assert_array_equal(_pixels(single[0].path), _pixels(folder[0].path))
    sidecar = Path(single[0].sidecar).read_text(encoding="utf-8")
    assert str(single_file) in sidecar and '"base_config": "tiny-sd"' in sidecar


def test_single_file_base_trains_with_the_folders_components(single_file: Path) -> None:
    import torch

    from ktrain.lora.models import load_components

    folder = load_components("tiny-sd", None, torch.float32)
    single = load_components(str(single_file), None, torch.float32, base_config="tiny-sd")
    for name in ("unet", "vae", "text_encoder"):
        expected, got = getattr(folder, name).state_dict(), getattr(single, name).state_dict()
        assert all(torch.equal(expected[k], got[k]) for k in expected) and expected.keys() == got.keys()
    assert dict(single.noise_scheduler.config) == dict(folder.noise_scheduler.config)
    assert (single.base.path, single.vae_ref.path) == (str(single_file), str(single_file))
    assert single.max_length == 77


def test_single_file_without_config_offline_says_what_to_give(single_file: Path) -> None:
    from ktrain.lora.loading import load_pipeline

    with pytest.raises(KcliError, match="set base_config to a diffusers folder, Hub id or preset of the same arch"):
        load_pipeline(str(single_file), None, "cpu", None)


@pytest.mark.parametrize(("keys", "name", "message"), [
    ({"unet.down_blocks.0.lora_A.weight": 1}, "lora.safetensors", "not a Stable Diffusion checkpoint"),
    ({"model.diffusion_model.x": 1}, "model.ckpt", "pickled checkpoints can run code"),
])
def test_unusable_single_files_are_refused_before_loading(tmp_path: Path, keys: dict[str, int], name: str,
                                                          message: str) -> None:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / name
    save_file({k: torch.zeros(v) for k, v in keys.items()}, str(path))
    with pytest.raises(ConfigError, match=message):
        resolve_base(str(path))


def test_missing_single_file_and_bad_variant_are_config_errors(tmp_path: Path, single_file: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        resolve_base(str(tmp_path / "absent.safetensors"))
    with pytest.raises(ConfigError, match="a single-file checkpoint has one set of weights"):
        resolve_base(str(single_file), "fp16")
    with pytest.raises(ConfigError, match="variant must be"):
        resolve_base("tiny-sd", "../fp16")


@pytest.mark.slow
def test_generate_command_takes_a_single_file_base_with_its_config(single_file: Path, tmp_path: Path) -> None:
    from tests.helpers.cli import kcli

    args = ("generate", "송편 한 접시", "--steps", "2", "--height", "64", "--width", "64", "--seed", "3", "--json")
    by_file = kcli(*args, "--base", str(single_file), "--base-config", "tiny-sd", "--out", str(tmp_path / "f"))
    assert by_file.returncode == 0, by_file.stderr
    by_folder = kcli(*args, "--base", "tiny-sd", "--out", str(tmp_path / "d"))
    assert by_folder.returncode == 0, by_folder.stderr
    [made], [expected] = json.loads(by_file.stdout), json.loads(by_folder.stdout)
    assert np.array_equal(_pixels(made["image"]), _pixels(expected["image"]))
    refused = kcli(*args, "--base", str(single_file), "--variant", "fp16", "--out", str(tmp_path / "v"))
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
