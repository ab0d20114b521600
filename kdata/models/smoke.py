"""Run every tiny preset once, end to end, the way the stages will: proof that the whole model stack loads
and runs offline. Used by ``kcli demo``; the outputs of random weights are meaningless, their types are not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

KOREAN_PROMPT = "한복을 입은 여인이 한옥 마당에 서 있다"


def _timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 3)


def clip_similarity(image_paths: list[Path], texts: list[str]) -> list[list[float]]:
    """Cosine similarities between images and (Korean) texts with the tiny transformers CLIP."""
    import torch
    from PIL import Image

    from kdata.models import load_hf_clip

    model, processor = load_hf_clip("tiny-clip")
    images = [Image.open(p).convert("RGB") for p in image_paths]
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**inputs)
    image = torch.nn.functional.normalize(out.image_embeds, dim=-1)
    text = torch.nn.functional.normalize(out.text_embeds, dim=-1)
    return (image @ text.T).tolist()


def generate_image(out_path: Path, prompt: str = KOREAN_PROMPT, seed: int = 0) -> Path:
    import torch
    from diffusers import StableDiffusionPipeline

    from kdata.models import resolve_model

    pipe = StableDiffusionPipeline.from_pretrained(resolve_model("tiny-sd", "stable-diffusion"))
    # diffusers passes disable=False to its step bar itself, so TQDM_DISABLE (kdata.quiet) does not reach it.
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator("cpu").manual_seed(seed)
    image = pipe(prompt, num_inference_steps=2, generator=generator, height=64, width=64).images[0]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    image.save(out_path)
    return out_path


def generate_sdxl_refined(out_dir: Path, prompt: str = "a lantern in a hanok courtyard", seed: int = 0) -> dict:
    """tiny-sdxl draws, tiny-sdxl-refiner redraws it (img2img), tiny-latent-upscaler doubles tiny-sd's latents:
    the three SDXL-era pipelines the generate stages use, each loaded as a real checkpoint would be."""
    import torch
    from diffusers import (
        StableDiffusionLatentUpscalePipeline,
        StableDiffusionPipeline,
        StableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLPipeline,
    )

    from kdata.models import resolve_model

    def load(cls: Any, preset: str) -> Any:
        pipe = cls.from_pretrained(resolve_model(preset))
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def seeded() -> Any:
        return torch.Generator("cpu").manual_seed(seed)

    base = load(StableDiffusionXLPipeline, "tiny-sdxl")(prompt, num_inference_steps=2, generator=seeded(),
                                                         height=64, width=64).images[0]
    refined = load(StableDiffusionXLImg2ImgPipeline, "tiny-sdxl-refiner")(
        prompt, image=base, strength=0.5, num_inference_steps=4, generator=seeded()).images[0]
    latents = load(StableDiffusionPipeline, "tiny-sd")(prompt, num_inference_steps=2, generator=seeded(), height=64,
                                                       width=64, output_type="latent").images
    upscaled = load(StableDiffusionLatentUpscalePipeline, "tiny-latent-upscaler")(
        prompt, image=latents, num_inference_steps=2, guidance_scale=0, generator=seeded()).images[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"sdxl": out_dir / "tiny-sdxl.png", "refined": out_dir / "tiny-sdxl-refined.png",
             "upscaled": out_dir / "tiny-sd-upscaled-x2.png"}
    for name, image in (("sdxl", base), ("refined", refined), ("upscaled", upscaled)):
        image.save(paths[name])
    return {name: str(path) for name, path in paths.items()}


def caption_image(image_path: Path) -> str:
    from PIL import Image
    from transformers import pipeline

    from kdata.models import resolve_model

    captioner = pipeline("image-text-to-text", model=resolve_model("tiny-captioner", "image-to-text"))
    result = captioner(images=Image.open(image_path).convert("RGB"), text="", max_new_tokens=8)
    return str(result[0]["generated_text"])


def translate(text: str, preset: str = "tiny-translator-ko-en") -> str:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from kdata.models import resolve_model

    path = resolve_model(preset, "translation")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSeq2SeqLM.from_pretrained(path)
    inputs = tokenizer(text, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=8)
    return tokenizer.decode(output[0], skip_special_tokens=True)


def run_all(image_paths: list[Path], out_dir: Path) -> dict[str, Any]:
    """Exercise each preset family once; returns what each produced and how long it took."""
    texts = ["한복을 입은 여인", "수묵화 대나무"]
    similarity, clip_s = _timed(lambda: clip_similarity(image_paths[:2], texts))
    image, sd_s = _timed(lambda: generate_image(out_dir / "tiny-sd-korean-prompt.png"))
    caption, cap_s = _timed(lambda: caption_image(image_paths[0]))
    english, tr_s = _timed(lambda: translate(KOREAN_PROMPT))
    sdxl, sdxl_s = _timed(lambda: generate_sdxl_refined(out_dir))
    return {
        "clip": {"texts": texts, "similarity": similarity, "seconds": clip_s},
        "stable_diffusion": {"prompt": KOREAN_PROMPT, "image": str(image), "seconds": sd_s},
        "captioner": {"caption": caption, "seconds": cap_s},
        "translator": {"ko": KOREAN_PROMPT, "en": english, "seconds": tr_s},
        "sdxl": {**sdxl, "seconds": sdxl_s},
    }
