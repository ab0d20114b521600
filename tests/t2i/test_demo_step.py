"""Which text encoder the demo's eval step uses: the demo's own export when it fits the tiny base."""

from __future__ import annotations

from pathlib import Path

from kdata.demo_context import DemoContext
from ktrain.t2i.demo_step import demo_text_encoder


def test_the_demo_uses_an_exported_encoder_only_when_it_fits_the_base(tmp_path: Path, encoder_folder: Path) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel

    ctx = DemoContext(tmp_path)
    assert demo_text_encoder(ctx) == (None, "the base's own (no encoder was exported earlier in this demo)")
    ctx.artifacts = {"text_encoder": encoder_folder}  # what the encoder step leaves once it exists
    assert demo_text_encoder(ctx) == (str(encoder_folder), str(encoder_folder))
    narrow = tmp_path / "narrow"
    CLIPTextModel(CLIPTextConfig(vocab_size=10, hidden_size=16, intermediate_size=8, num_hidden_layers=1,
                                 num_attention_heads=2)).save_pretrained(narrow)
    ctx.artifacts = {"text_encoder": narrow}
    assert demo_text_encoder(ctx) == (None, f"the base's own ({narrow} is 16 wide, the UNet wants 32)")
