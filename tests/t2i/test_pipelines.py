"""The pipeline registry, the Korean-encoder swap, and what each pipeline feeds its text encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdata.errors import ConfigError
from ktrain.t2i.pipelines import T2I_PIPELINES, ModelSet, ModelSpecs, parse_pipelines
from ktrain.t2i.prompts import Prompt
from ktrain.t2i.render import RenderSettings

PROMPT = Prompt("hanok-a", "hanok", "눈 내린 한옥 마을", "a hanok village in the snow")
FAST = RenderSettings(steps=2, guidance=7.5)


def test_registry_names_and_parsing() -> None:
    assert T2I_PIPELINES.names() == ["english-reference", "enriched", "ko-encoder", "translate"]
    assert [p.name for p in parse_pipelines(" translate, ko-encoder ")] == ["translate", "ko-encoder"]
    with pytest.raises(ConfigError) as error:
        parse_pipelines("ko-encoder,nope")
    assert str(error.value) == ("unknown t2i pipeline 'nope'; valid names: english-reference, enriched, ko-encoder, "
                                "translate")
    with pytest.raises(ConfigError, match="a pipeline is named twice"):
        parse_pipelines("translate,translate")
    with pytest.raises(ConfigError, match="name at least one of english-reference, enriched, ko-encoder, translate"):
        parse_pipelines(" , ")


def test_ko_encoder_shares_the_unet_and_matches_the_base_when_given_the_base_encoder(encoder_folder: Path) -> None:
    """The Korean pipeline swaps only the text side: with the base's own encoder saved as a folder, it must
    render exactly what the base renders from the same Korean text and seed."""
    models = ModelSet(ModelSpecs("tiny-sd", text_encoder=str(encoder_folder)))
    assert models.korean is not models.english
    assert models.korean.unet is models.english.unet and models.korean.vae is models.english.vae
    assert models.korean.text_encoder is not models.english.text_encoder
    ko = T2I_PIPELINES.get("ko-encoder").run(models, PROMPT, 3, FAST)
    base_from_korean = T2I_PIPELINES.get("english-reference").run(
        models, Prompt("x", "x", PROMPT.ko, PROMPT.ko), 3, FAST)
    assert ko.prompt_used == PROMPT.ko and ko.image.size == (64, 64)
    assert np.array_equal(np.asarray(ko.image), np.asarray(base_from_korean.image))
    other_seed = T2I_PIPELINES.get("ko-encoder").run(models, PROMPT, 4, FAST)
    assert not np.array_equal(np.asarray(ko.image), np.asarray(other_seed.image))
    assert ko.seconds["translate"] == 0.0 and all(ko.seconds[s] > 0 for s in ("text_encode", "denoise", "decode"))


def test_translate_feeds_the_translation_and_times_it() -> None:
    from ktrain.t2i.translator import KoreanToEnglish

    models = ModelSet(ModelSpecs("tiny-sd", translator="tiny-translator-ko-en"))
    result = T2I_PIPELINES.get("translate").run(models, PROMPT, 0, FAST)
    assert result.prompt_used == KoreanToEnglish("tiny-translator-ko-en").translate([PROMPT.ko])[0]
    assert result.prompt_used and "__en__" not in result.prompt_used  # the language code is not text
    assert set(result.seconds) == {"translate", "search", "text_encode", "denoise", "upscale", "decode", "refine"}
    assert (result.seconds["upscale"], result.seconds["refine"], result.seconds["search"]) == (0.0, 0.0, 0.0)
    assert all(result.seconds[s] > 0 for s in ("translate", "text_encode", "denoise", "decode"))
    reference = T2I_PIPELINES.get("english-reference").run(models, PROMPT, 0, FAST)
    assert reference.prompt_used == PROMPT.en and reference.seconds["translate"] == 0.0


def test_translate_without_a_translator_and_a_mismatched_encoder_are_config_errors(tmp_path: Path) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel

    with pytest.raises(ConfigError, match="the translate pipeline needs --translator"):
        T2I_PIPELINES.get("translate").load(ModelSet(ModelSpecs("tiny-sd", translator=None)))
    narrow = CLIPTextModel(CLIPTextConfig(vocab_size=100, hidden_size=16, intermediate_size=8, num_hidden_layers=1,
                                          num_attention_heads=2))
    narrow.save_pretrained(tmp_path / "narrow")
    from transformers import AutoTokenizer

    from kdata.models import resolve_model

    AutoTokenizer.from_pretrained(Path(resolve_model("tiny-sd")) / "tokenizer").save_pretrained(tmp_path / "narrow")
    with pytest.raises(ConfigError) as error:
        _ = ModelSet(ModelSpecs("tiny-sd", text_encoder=str(tmp_path / "narrow"))).korean
    assert "has hidden size 16, but the base's UNet attends to 32-wide text states" in str(error.value)
    with pytest.raises(ConfigError, match="expected a CLIPTextModel folder"):
        _ = ModelSet(ModelSpecs("tiny-sd", text_encoder=str(tmp_path))).korean
