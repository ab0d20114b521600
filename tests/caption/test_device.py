"""``device = "auto"`` for caption models: the GPU where torch sees one, else the CPU; and when the Ray executor
asks for a GPU. Runs without a GPU: torch's answer is patched."""

from __future__ import annotations

from typing import Any

import pytest

from kdata.caption.backends import loading
from kdata.caption.backends.image_models import ImageToTextConfig, VlmConfig
from kdata.caption.backends.translate import TranslateConfig
from kdata.caption.backends.translate_lm import TranslateLmConfig
from kdata.caption.config import CaptionConfig, CaptionPlan, RerankConfig, caption_config_from_dict
from kdata.caption.rerank import ClipReranker
from kdata.caption.stage import CaptionStage
from kdata.errors import ConfigError


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set whether torch reports a GPU: ``cuda(True)``."""
    import torch

    return lambda available: monkeypatch.setattr(torch.cuda, "is_available", lambda: available)


def test_auto_is_the_default_of_every_model_backend() -> None:
    configs = [ImageToTextConfig(model="m"), VlmConfig(model="m", prompt="설명해 주세요"), RerankConfig(model="m"),
               TranslateConfig(model="m", source="en"), TranslateLmConfig(model="m", source="ko")]
    assert {config.device for config in configs} == {"auto"}


@pytest.mark.parametrize(("requested", "available", "resolved"), [
    ("auto", True, "cuda"), ("auto", False, "cpu"), ("cpu", True, "cpu"), ("cuda:1", True, "cuda:1"),
])
def test_auto_resolves_to_the_gpu_where_torch_sees_one(cuda: Any, requested: str, available: bool,
                                                       resolved: str) -> None:
    cuda(available)
    assert loading.resolve_device(requested) == resolved


class _Model:
    def __init__(self) -> None:
        self.device: str | None = None

    def to(self, device: str) -> _Model:
        self.device = device
        return self

    def eval(self) -> _Model:
        return self


def test_models_load_onto_the_resolved_device(cuda: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    loaded: list[tuple[Any, _Model]] = []

    def from_pretrained(path: str, dtype: Any = None) -> _Model:
        loaded.append((dtype, _Model()))
        return loaded[-1][1]

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda path: object())
    cuda(True)
    model, _ = loading.load_pretrained("org/model", "causal-lm", "AutoModelForCausalLM", "AutoTokenizer", "auto")
    assert (model.device, loaded[-1][0]) == ("cuda", "auto")  # on a GPU, the checkpoint's own dtype
    cuda(False)
    model, _ = loading.load_pretrained("org/model", "causal-lm", "AutoModelForCausalLM", "AutoTokenizer", "auto")
    import torch

    assert (model.device, loaded[-1][0]) == ("cpu", torch.float32)


def test_the_reranker_resolves_auto_too(cuda: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import kdata.models

    devices: list[str] = []
    monkeypatch.setattr(kdata.models, "load_hf_clip", lambda spec, device: (devices.append(device), None))
    cuda(True)
    reranker = ClipReranker(RerankConfig(model="tiny-clip"))
    reranker.load()
    assert devices == ["cuda"] and reranker.device == "cuda"


def test_a_bad_device_is_a_one_line_config_error() -> None:
    chains = {"en": [{"backend": "blip", "model": "tiny-captioner", "device": "gpu0"}]}
    with pytest.raises(ConfigError, match=r"^cfg: en\[0\]:blip: device must be auto, cpu, cuda or cuda:N, got 'gpu0'$"):
        caption_config_from_dict(chains, where="cfg")
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N, got 'tpu'"):
        caption_config_from_dict({"en": [{"backend": "alt_text"}], "rerank": {"model": "m", "device": "tpu"}},
                                 where="cfg")


@pytest.mark.parametrize(("chains", "rerank", "wants"), [
    ({"en": [{"backend": "blip", "model": "m"}]}, None, True),  # auto, the default
    ({"en": [{"backend": "blip", "model": "m", "device": "cpu"}]}, None, False),
    ({"en": [{"backend": "blip", "model": "m", "device": "cuda:0"}]}, None, True),
    ({"en": [{"backend": "alt_text"}, {"backend": "template", "template": "{method_en}"}]}, None, False),
    ({"ko": [{"backend": "alt_text"}], "en": [{"backend": "deepl", "source": "ko"}]}, None, False),  # an API: no GPU
    ({"ko": [{"backend": "alt_text"}], "en": [{"backend": "translate-lm", "model": "m", "source": "ko"}]}, None, True),
    ({"en": [{"backend": "alt_text"}]}, RerankConfig(model="tiny-clip"), True),
    ({"en": [{"backend": "alt_text"}]}, RerankConfig(model="tiny-clip", device="cpu"), False),
])
def test_the_ray_executor_asks_for_a_gpu_where_a_model_may_use_one(chains: dict, rerank: RerankConfig | None,
                                                                   wants: bool) -> None:
    plan = CaptionPlan(CaptionConfig(**chains, rerank=rerank))
    assert CaptionStage.wants_gpu(plan) is wants


def test_a_skipped_backend_asks_for_nothing() -> None:
    config = CaptionConfig(en=[{"backend": "alt_text"}, {"backend": "blip", "model": "m"}])
    assert not CaptionStage.wants_gpu(CaptionPlan(config, skipped=["en[1]:blip"]))
