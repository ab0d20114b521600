"""``generate``: batches of Korean prompts, seeds, a replacement text encoder, weighted LoRAs, sidecars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from kdata.errors import ConfigError
from kdata.models import resolve_model
from ktrain.lora.generate import GenerateConfig, generate
from ktrain.lora.loading import LoraSpec

PROMPTS = ["한복을 입은 여인", "한옥 마당"]


@pytest.fixture(scope="module")
def text_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-sd's own text encoder and tokenizer saved side by side, as a trained encoder folder would be."""
    from transformers import AutoTokenizer, CLIPTextModel

    base = Path(resolve_model("tiny-sd"))
    out = tmp_path_factory.mktemp("encoder") / "korean-encoder"
    CLIPTextModel.from_pretrained(base / "text_encoder").save_pretrained(out)
    AutoTokenizer.from_pretrained(base / "tokenizer").save_pretrained(out)
    return out


def _pixels(paths: list[str]) -> list[np.ndarray]:
    return [np.asarray(Image.open(p), dtype=np.int16) for p in paths]


def test_prompts_seeds_batches_and_sidecars(trained: tuple[Any, Any], text_encoder_dir: Path, tmp_path: Path) -> None:
    config, _ = trained
    lora = LoraSpec(config.out, 0.8)
    results = generate(GenerateConfig(prompts=PROMPTS, base="tiny-sd", out=str(tmp_path / "a"), steps=2, seed=10,
                                      images_per_prompt=2, batch_size=3, text_encoder=str(text_encoder_dir),
                                      loras=[lora], negative_prompt="흐릿한"))
    assert [(r.prompt, r.seed) for r in results] == [(PROMPTS[0], 10), (PROMPTS[0], 11), (PROMPTS[1], 12),
                                                     (PROMPTS[1], 13)]
    assert [Path(r.path).name for r in results] == [f"0000{i}-seed{10 + i}.png" for i in range(4)]
    sidecars = [json.loads(Path(r.sidecar).read_text(encoding="utf-8")) for r in results]
    first = sidecars[0]
    assert (first["prompt"], first["seed"], first["steps"], first["negative_prompt"]) == (PROMPTS[0], 10, 2, "흐릿한")
    assert first["size"] == [64, 64] and first["base"]["id"] == "tiny-sd" and len(first["base"]["fingerprint"]) == 64
    assert first["text_encoder"]["id"] == str(text_encoder_dir)
    assert first["loras"] == [{"path": config.out, "weight": 0.8, "adapter": "lora0",
                               "fingerprint": first["loras"][0]["fingerprint"]}]
    assert [s["timings_s"]["batch_size"] for s in sidecars] == [3, 3, 3, 1]
    assert set(first["timings_s"]) == {"text_encode", "denoise", "decode", "batch_size"}
    assert all(first["timings_s"][k] > 0 for k in ("text_encode", "denoise", "decode"))
    again = generate(GenerateConfig(prompts=[PROMPTS[1]], base="tiny-sd", out=str(tmp_path / "b"), steps=2, seed=12,
                                    text_encoder=str(text_encoder_dir), loras=[lora], negative_prompt="흐릿한"))
    np.testing.assert_array_equal(_pixels([again[0].path])[0], _pixels([results[2].path])[0])  # seed remakes it


def test_text_encoder_folder_loads_the_model_it_holds(text_encoder_dir: Path, tmp_path: Path) -> None:
    own = generate(GenerateConfig(prompts=PROMPTS[:1], base="tiny-sd", out=str(tmp_path / "own"), steps=2))
    given = generate(GenerateConfig(prompts=PROMPTS[:1], base="tiny-sd", out=str(tmp_path / "given"), steps=2,
                                    text_encoder=str(text_encoder_dir)))
    np.testing.assert_array_equal(*_pixels([own[0].path, given[0].path]))


def test_several_loras_mix_by_weight(trained: tuple[Any, Any], tmp_path: Path) -> None:
    config, _ = trained
    out = Path(config.out)
    whole = generate(GenerateConfig(prompts=PROMPTS[:1], base="tiny-sd", out=str(tmp_path / "one"), steps=2,
                                    loras=[LoraSpec(str(out), 1.0)]))
    halves = generate(GenerateConfig(prompts=PROMPTS[:1], base="tiny-sd", out=str(tmp_path / "two"), steps=2,
                                     loras=[LoraSpec(str(out / "lora.safetensors"), 0.5), LoraSpec(str(out), 0.5)]))
    sidecar = json.loads(Path(halves[0].sidecar).read_text())
    assert [(r["adapter"], r["weight"]) for r in sidecar["loras"]] == [("lora0", 0.5), ("lora1", 0.5)]
    a, b = _pixels([whole[0].path, halves[0].path])
    assert np.abs(a - b).max() <= 1  # the same update in two halves; PNG rounding may differ by one level


@pytest.mark.parametrize(("text", "spec"), [("out/lora.safetensors:0.7", LoraSpec("out/lora.safetensors", 0.7)),
                                            ("out/dir", LoraSpec("out/dir", 1.0)),
                                            ("C:\\loras\\a.safetensors", LoraSpec("C:\\loras\\a.safetensors", 1.0)),
                                            ("a:-0.5", LoraSpec("a", -0.5))])
def test_lora_spec_is_path_and_optional_weight(text: str, spec: LoraSpec) -> None:
    assert LoraSpec.parse(text) == spec


def test_missing_lora_and_empty_prompt_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--lora /no/such.safetensors: no such file or folder"):
        generate(GenerateConfig(prompts=["한옥"], base="tiny-sd", out=str(tmp_path), steps=1,
                                loras=[LoraSpec("/no/such.safetensors")]))
    with pytest.raises(ConfigError, match="at least one non-empty prompt"):
        GenerateConfig(prompts=[" "], base="tiny-sd", out=str(tmp_path))
