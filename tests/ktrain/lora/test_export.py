"""The exported files: both load with diffusers, change the images, and give the same images as each other."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open

from kdata.models import resolve_model
from ktrain.lora.export import addnet_hash


def _pipeline() -> Any:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(resolve_model("tiny-sd"), safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _render(pipe: Any) -> np.ndarray:
    generator = torch.Generator().manual_seed(7)
    return pipe("비빔밥 한 그릇", num_inference_steps=2, generator=generator, height=64, width=64,
                output_type="np").images[0]


def test_diffusers_and_kohya_files_load_change_the_output_and_agree(trained: tuple[Any, Any]) -> None:
    config, result = trained
    out = Path(config.out)
    assert result.files == {"diffusers": str(out / "pytorch_lora_weights.safetensors"),
                            "kohya": str(out / "lora.safetensors"), "model_card": str(out / "README.md")}
    pipe = _pipeline()
    base = _render(pipe)
    pipe.load_lora_weights(str(out))  # the folder: diffusers picks pytorch_lora_weights.safetensors
    with_diffusers = _render(pipe)
    pipe.unload_lora_weights()
    np.testing.assert_array_equal(_render(pipe), base)
    pipe.load_lora_weights(str(out / "lora.safetensors"))
    with_kohya = _render(pipe)
    assert np.abs(with_diffusers - base).max() > 1e-3
    np.testing.assert_allclose(with_kohya, with_diffusers, atol=1e-6)


def test_kohya_file_has_down_up_alpha_per_module_and_training_metadata(trained: tuple[Any, Any],
                                                                      food_manifest: Any) -> None:
    config, _ = trained
    with safe_open(str(Path(config.out) / "lora.safetensors"), "pt") as f:
        names = f.keys()
        tensors = {k: f.get_tensor(k) for k in names}
        meta = f.metadata()
    pattern = re.compile(r"^lora_unet_(down|mid|up)_block[s_\d]*_attentions_\d+_transformer_blocks_0_attn[12]_"
                         r"to_(q|k|v|out_0)\.(lora_down\.weight|lora_up\.weight|alpha)$")
    assert len(tensors) == 6 * 2 * 4 * 3 and all(pattern.match(k) for k in tensors), sorted(tensors)[:3]
    name = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"  # text (32) -> channels (64)
    assert tensors[f"{name}.lora_down.weight"].shape == (8, 32) and tensors[f"{name}.lora_up.weight"].shape == (64, 8)
    assert tensors[f"{name}.alpha"].item() == 8.0
    assert (meta["ss_network_module"], meta["ss_network_dim"], meta["ss_network_alpha"]) == ("networks.lora", "8",
                                                                                            "8.0")
    assert meta["ss_base_model_version"] == "sd_v1" and meta["ss_num_train_images"] == "4"
    assert meta["ss_steps"] == "6" and meta["ss_min_snr_gamma"] == "5.0" and meta["ss_caption_column"] == "title"
    assert meta["ss_dataset_fingerprint"] == food_manifest.fingerprint
    assert meta["sshs_model_hash"] == addnet_hash(tensors)
    assert meta["modelspec.architecture"] == "stable-diffusion-v1/lora"


def test_diffusers_file_carries_the_peft_adapter_config_and_the_card_the_run(trained: tuple[Any, Any],
                                                                             food_manifest: Any) -> None:
    config, _ = trained
    out = Path(config.out)
    with safe_open(str(out / "pytorch_lora_weights.safetensors"), "pt") as f:
        adapter = json.loads(f.metadata()["lora_adapter_metadata"])
        names = f.keys()
        assert all(k.startswith("unet.") for k in names)
    assert (adapter["unet.r"], adapter["unet.lora_alpha"]) == (8, 8.0)
    assert sorted(adapter["unet.target_modules"]) == ["to_k", "to_out.0", "to_q", "to_v"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "- lora" in card and "- korean" in card
    assert food_manifest.fingerprint[:16] in card and "rank 8" in card and "samples/step-000006.png" in card
    assert json.loads((out / "kcli_config.json").read_text())["manifest"]["fingerprint"] == food_manifest.fingerprint


def test_text_encoder_lora_round_trips_through_both_files(tmp_path: Path) -> None:
    """A LoRA on UNet and text encoder (alpha != rank) gives, loaded from either file, the trained model's image."""
    from peft import LoraConfig

    from ktrain.lora.config import LoraTrainConfig
    from ktrain.lora.export import ExportInfo, export_lora
    from ktrain.lora.loading import LoraSpec, load_loras
    from ktrain.lora.models import ModelRef, attach_text_encoder_lora

    torch.manual_seed(0)
    trained = _pipeline()
    trained.unet.add_adapter(LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                        target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    te_targets = ["q_proj", "k_proj", "v_proj", "out_proj"]
    attach_text_encoder_lora(trained.text_encoder, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                                              target_modules=te_targets))
    config = LoraTrainConfig(manifest="m", out=str(tmp_path), base="tiny-sd", rank=4, alpha=8.0,
                             train_text_encoder=True)
    ref = ModelRef("tiny-sd", "", "0" * 64)
    files = export_lora(tmp_path, trained.unet, trained.text_encoder, ExportInfo(config, ref, ref, "f" * 64, 1, 1, 1))
    with safe_open(files["kohya"], "pt") as f:
        names = f.keys()
        assert "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in names
    expected = _render(trained)
    for path in (files["diffusers"], files["kohya"]):
        pipe = _pipeline()
        load_loras(pipe, [LoraSpec(path)])
        np.testing.assert_allclose(_render(pipe), expected, atol=1e-6, err_msg=path)


@pytest.mark.parametrize("weight", [0.0])
def test_weight_zero_is_the_base_model(trained: tuple[Any, Any], weight: float) -> None:
    from ktrain.lora.loading import LoraSpec, load_loras

    config, _ = trained
    pipe = _pipeline()
    base = _render(pipe)
    load_loras(pipe, [LoraSpec(str(Path(config.out) / "lora.safetensors"), weight)])
    np.testing.assert_allclose(_render(pipe), base, atol=1e-6)
