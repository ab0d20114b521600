"""Image captioners through transformers: ``image-to-text`` (BLIP, BLIP-2, GIT) and ``vlm`` (chat models).

``image-to-text`` models caption an image directly, optionally continuing a prefix ("a picture of"), as
BLIP's conditional captioning does. ``vlm`` models follow an instruction in a chat template, so a
Korean-capable one (Qwen2-VL, for example) can caption in Korean directly when prompted to. Both load
through ``AutoModelForImageTextToText`` + ``AutoProcessor``: a tiny preset, a Hub id or a local folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdata.caption.backends.base import (
    BACKENDS,
    Backend,
    Candidate,
    Failed,
    ImageUnavailable,
    RowItem,
    Source,
    chunks,
    run_isolated,
    short_hash,
)
from kdata.caption.backends.loading import check_device, inference, load_pretrained, seed_from_keys
from kdata.textnorm import normalize_text


@dataclass
class ImageToTextConfig:
    model: str
    prompt: str = ""  # a caption prefix for conditional captioning; it stays at the start of the caption
    max_new_tokens: int = 30
    num_beams: int = 1
    num_candidates: int = 1  # more than one: nucleus sampling, for CLIP re-ranking (LAION-COCO)
    top_p: float = 0.9
    batch_size: int = 16
    device: str = "auto"  # a GPU where the worker has one, else the CPU

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "num_beams", "num_candidates", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        check_device(self.device)


@dataclass
class VlmConfig(ImageToTextConfig):
    """``prompt`` is the instruction, e.g. "이 그림을 한국어 한 문장으로 설명해 주세요." (required)."""

    max_new_tokens: int = 60
    batch_size: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.prompt.strip():
            raise ValueError("a vlm backend needs a prompt (the instruction the model answers)")


class _ImageCaptioner(Backend):
    """Shared batching: decode images, generate per chunk, isolate failures, shape candidates."""

    source = Source.MODEL

    def __init__(self, config: ImageToTextConfig, language: str, label: str) -> None:
        super().__init__(config, language, label)
        self.prompt_hash = short_hash(config.prompt) if config.prompt else None
        self.model: Any = None
        self.processor: Any = None

    def load(self) -> None:
        self.model, self.processor = load_pretrained(
            self.config.model, "image-to-text", "AutoModelForImageTextToText", "AutoProcessor", self.config.device
        )

    def run(self, items: list[RowItem]) -> list[list[Candidate]]:
        out: list[list[Candidate]] = [[] for _ in items]
        ready: list[tuple[int, Any]] = []
        for index, item in enumerate(items):
            try:
                ready.append((index, item.image()))
            except ImageUnavailable as exc:
                out[index] = [self.failure(str(exc), self.config.model)]
        for chunk in chunks(ready, self.config.batch_size):
            seed = seed_from_keys([str(items[i].row.get("key")) for i, _ in chunk])
            results = run_isolated(lambda part, s=seed: self._generate_texts(part, s), [img for _, img in chunk])
            for (index, _), result in zip(chunk, results):
                out[index] = self._to_candidates(result)
        return out

    def _to_candidates(self, result: list[str] | Failed) -> list[Candidate]:
        if isinstance(result, Failed):
            return [self.failure(result.error, self.config.model)]
        texts = [normalize_text(t) for t in result]
        return [self.candidate(t, self.config.model, self.prompt_hash) for t in dict.fromkeys(texts) if t]

    def _generate_texts(self, images: list[Any], seed: int) -> list[list[str]]:
        config: ImageToTextConfig = self.config
        inputs, prompt_length = self._inputs(images)
        kwargs: dict[str, Any] = {"max_new_tokens": config.max_new_tokens, "num_beams": config.num_beams}
        sampling = config.num_candidates > 1
        if sampling:
            kwargs.update(do_sample=True, top_p=config.top_p, num_return_sequences=config.num_candidates)
        with inference(seed if sampling else None):
            # Only floating tensors (pixel values) take the model's dtype; token ids stay integers.
            ids = self.model.generate(**inputs.to(self.model.device, dtype=self.model.dtype), **kwargs)
        texts = self.processor.batch_decode(ids[:, prompt_length:], skip_special_tokens=True)
        k = config.num_candidates
        return [texts[i * k : (i + 1) * k] for i in range(len(images))]

    def _inputs(self, images: list[Any]) -> tuple[Any, int]:
        raise NotImplementedError


@BACKENDS.register("image-to-text")
class ImageToTextBackend(_ImageCaptioner):
    """BLIP-family captioners: the decoded sequence is the caption (a prompt prefix stays in it)."""

    config_cls = ImageToTextConfig

    def _inputs(self, images: list[Any]) -> tuple[Any, int]:
        prompt = self.config.prompt
        text = [prompt] * len(images) if prompt else None
        return self.processor(images=images, text=text, return_tensors="pt"), 0


# BLIP is the family most configs will name; "blip" reads better there than the task name.
BACKENDS.add("blip", ImageToTextBackend)


@BACKENDS.register("vlm")
class VlmBackend(_ImageCaptioner):
    """Chat vision-language models: the prompt goes through the model's chat template; only the answer
    (the tokens after the prompt) is the caption."""

    config_cls = VlmConfig

    def load(self) -> None:
        super().load()
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # decoder-only batches must end where generation starts

    def _inputs(self, images: list[Any]) -> tuple[Any, int]:
        instruction = {"type": "text", "text": self.config.prompt}
        conversations = [
            [{"role": "user", "content": [{"type": "image", "image": image}, instruction]}] for image in images
        ]
        inputs = self.processor.apply_chat_template(
            conversations, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
            processor_kwargs={"padding": True},
        )
        return inputs, int(inputs["input_ids"].shape[1])
