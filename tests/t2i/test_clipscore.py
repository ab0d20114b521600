"""CLIP score: which backend a spec takes, and the number against the model's own embeddings."""

from __future__ import annotations

import pytest

from kdata.errors import ConfigError
from ktrain.t2i.clipscore import ClipScorer, clip_backend


@pytest.mark.parametrize(("spec", "backend"), [
    ("tiny-clip", "hf"), ("tiny-open-clip", "open_clip"), ("openai/clip-vit-large-patch14", "hf"),
    ("Bingsu/clip-vit-large-patch14-ko", "hf"), ("ViT-B-32:openai", "open_clip"), ("hf-hub:org/repo", "open_clip"),
])
def test_spec_picks_the_backend(spec: str, backend: str) -> None:
    assert clip_backend(spec) == backend


def test_a_preset_that_is_not_clip_is_refused() -> None:
    with pytest.raises(ConfigError, match="preset 'tiny-sd' is a stable-diffusion model, not CLIP"):
        clip_backend("tiny-sd")


def test_score_is_100_times_the_clamped_cosine_of_the_models_own_embeddings() -> None:
    import numpy as np
    import torch
    from PIL import Image

    from kdata.models import load_hf_clip

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(6)]
    texts = ["한복을 입은 여인", "a bowl of bibimbap", "수묵화 대나무", "hanok roofs", "눈 내린 산", "lanterns"]
    model, processor = load_hf_clip("tiny-clip")
    with torch.no_grad():
        out = model(**processor(text=texts, images=images, return_tensors="pt", padding=True))
    cosine = torch.nn.functional.cosine_similarity(out.image_embeds, out.text_embeds).numpy()
    expected = 100 * np.maximum(cosine, 0)
    scores = ClipScorer("tiny-clip").score(images, texts, batch_size=4)  # two batches
    assert scores == pytest.approx(expected.tolist(), abs=1e-3)
    assert any(s == 0 for s in scores) == any(c < 0 for c in cosine)
