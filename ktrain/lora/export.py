"""Save a trained LoRA the ways the ecosystem loads it, plus a model card.

- ``pytorch_lora_weights.safetensors``: diffusers' own format (peft ``lora_A``/``lora_B`` keys under
  ``unet.``/``text_encoder.``/``text_encoder_2.``, the peft adapter config in the header), written by
  ``StableDiffusionPipeline.save_lora_weights`` (SDXL: ``StableDiffusionXLPipeline``'s) — what
  ``pipe.load_lora_weights(folder)`` reads.
- ``<output_name>.safetensors``: the kohya-ss / A1111 layout ComfyUI and the WebUI read
  (``lora_unet_<module path with _>.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha``, text-encoder
  modules under ``lora_te_``; SDXL: UNet modules under their sgm names as kohya-ss writes them, encoders
  under ``lora_te1_``/``lora_te2_``), with kohya's ``ss_*`` training metadata (``ss_base_model_version``
  ``sd_v1`` or ``sdxl_base_v1-0``) and ``modelspec.*`` keys in the safetensors header. Both files hold the
  same numbers, so they produce the same images.
- ``README.md``: a Hugging Face model card (front matter via ``huggingface_hub.ModelCardData``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdata import __version__
from kdata.atomic import atomic_path
from kdata.markup import md_code, md_image, md_text
from ktrain.lora.config import LoraTrainConfig
from ktrain.lora.models import ModelRef
from ktrain.lora.sdxl import is_sdxl_unet, sgm_unet_state_dict

DIFFUSERS_FILE = "pytorch_lora_weights.safetensors"
MODEL_CARD = "README.md"


@dataclass
class ExportInfo:
    """What the metadata and the model card say about a training run."""

    config: LoraTrainConfig
    base: ModelRef
    text_encoder: ModelRef
    manifest_fingerprint: str
    num_images: int
    steps: int
    epochs: int
    buckets: dict[str, int] = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    sample_grid: str | None = None
    sdxl: bool = False


def lora_state_dicts(unet: Any, text_encoder: Any | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """peft state dicts (``<module>.lora_A.weight`` keys, adapter name stripped) of the trained modules."""
    from peft.utils import get_peft_model_state_dict

    unet_sd = get_peft_model_state_dict(unet)
    te_sd = get_peft_model_state_dict(text_encoder) if text_encoder is not None else None
    return unet_sd, te_sd


def peft_state(module: Any) -> dict[str, Any]:
    from peft.utils import get_peft_model_state_dict

    return get_peft_model_state_dict(module)


def save_diffusers_lora(out_dir: Path, unet: Any, text_encoder: Any | None, text_encoder_2: Any | None = None) -> Path:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from diffusers.utils import convert_state_dict_to_diffusers

    unet_sd, te_sd = lora_state_dicts(unet, text_encoder)
    parts: dict[str, Any] = {
        "unet_lora_layers": convert_state_dict_to_diffusers(unet_sd),
        "text_encoder_lora_layers": convert_state_dict_to_diffusers(te_sd) if te_sd else None,
        "unet_lora_adapter_metadata": unet.peft_config["default"].to_dict(),
        "text_encoder_lora_adapter_metadata": text_encoder.peft_config["default"].to_dict() if te_sd else None,
    }
    pipeline = StableDiffusionPipeline
    if is_sdxl_unet(unet):
        pipeline = StableDiffusionXLPipeline
        te2_sd = peft_state(text_encoder_2) if text_encoder_2 is not None else None
        parts["text_encoder_2_lora_layers"] = convert_state_dict_to_diffusers(te2_sd) if te2_sd else None
        parts["text_encoder_2_lora_adapter_metadata"] = (text_encoder_2.peft_config["default"].to_dict()
                                                         if te2_sd else None)
    pipeline.save_lora_weights(save_directory=str(out_dir), safe_serialization=True, **parts)
    return Path(out_dir) / DIFFUSERS_FILE


def to_kohya(state_dict: dict[str, Any], prefix: str, alpha: float) -> dict[str, Any]:
    """peft keys -> kohya keys: ``a.b.to_q.lora_A.weight`` -> ``<prefix>_a_b_to_q.lora_down.weight`` + ``.alpha``."""
    import torch

    out: dict[str, Any] = {}
    for key, tensor in state_dict.items():
        module, _, kind = key.rpartition(".lora_")
        name = f"{prefix}_{module.replace('.', '_')}"
        part = {"A.weight": "lora_down.weight", "B.weight": "lora_up.weight"}.get(kind)
        if part is None:
            raise ValueError(f"unexpected LoRA key {key!r} (only lora_A/lora_B weights are exported)")
        out[f"{name}.{part}"] = tensor.detach().float().contiguous().cpu()
        out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out


def kohya_state_dict(unet: Any, text_encoder: Any | None, text_encoder_2: Any | None = None) -> dict[str, Any]:
    unet_sd, _ = lora_state_dicts(unet, None)
    sdxl = is_sdxl_unet(unet)
    if sdxl:
        unet_sd = sgm_unet_state_dict(unet_sd, unet.config.layers_per_block) or unet_sd
    tensors = to_kohya(unet_sd, "lora_unet", unet.peft_config["default"].lora_alpha)
    # kohya-ss names SD 1.x's one encoder lora_te, SDXL's two lora_te1 (CLIP-L) and lora_te2 (bigG).
    encoders = [("lora_te1", text_encoder), ("lora_te2", text_encoder_2)] if sdxl else [("lora_te", text_encoder)]
    for prefix, encoder in encoders:
        if encoder is None:
            continue
        te_sd = peft_state(encoder)
        # kohya and A1111 name text-encoder modules as transformers 4 did (text_model.encoder...);
        # transformers 5's CLIPTextModel dropped the text_model level.
        te_sd = {(k if k.startswith("text_model.") else f"text_model.{k}"): v for k, v in te_sd.items()}
        tensors.update(to_kohya(te_sd, prefix, encoder.peft_config["default"].lora_alpha))
    return tensors


def addnet_hash(tensors: dict[str, Any]) -> str:
    """kohya's ``sshs_model_hash``: sha256 of the safetensors bytes after the header (metadata-independent)."""
    from safetensors.torch import save

    data = save(tensors)
    header = int.from_bytes(data[:8], "little")
    return hashlib.sha256(data[8 + header :]).hexdigest()


def kohya_metadata(info: ExportInfo, tensors: dict[str, Any]) -> dict[str, str]:
    """kohya-ss ``ss_*`` keys (what the WebUI shows under a LoRA's metadata) and ``modelspec.*`` keys."""
    cfg = info.config
    # kohya-ss' names for the base (library/train_util.py) and Stability's model-spec architecture ids.
    version, architecture = (("sdxl_base_v1-0", "stable-diffusion-xl-v1-base/lora") if info.sdxl
                             else ("sd_v1", "stable-diffusion-v1/lora"))
    meta: dict[str, Any] = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": cfg.rank,
        "ss_network_alpha": cfg.alpha,
        "ss_network_dropout": cfg.lora_dropout,
        "ss_network_args": json.dumps({"target_modules": cfg.target_modules}),
        "ss_base_model_version": version,
        "ss_v2": "False",
        "ss_sd_model_name": info.base.spec,
        "ss_new_sd_model_hash": info.base.fingerprint,
        "ss_text_encoder": info.text_encoder.spec,
        "ss_text_encoder_hash": info.text_encoder.fingerprint,
        "ss_training_comment": f"trained with kcli {__version__} on manifest {info.manifest_fingerprint}",
        "ss_dataset_fingerprint": info.manifest_fingerprint,
        "ss_caption_column": cfg.caption_col,
        "ss_resolution": f"({cfg.resolution}, {cfg.resolution})",
        "ss_enable_bucket": cfg.bucket,
        "ss_bucket_info": json.dumps({"buckets": info.buckets}),
        "ss_num_train_images": info.num_images,
        "ss_max_train_steps": cfg.max_steps,
        "ss_steps": info.steps,
        "ss_epoch": info.epochs,
        "ss_batch_size_per_device": cfg.batch_size,
        "ss_gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "ss_learning_rate": cfg.learning_rate,
        "ss_unet_lr": cfg.learning_rate,
        "ss_text_encoder_lr": cfg.learning_rate if cfg.train_text_encoder else 0,
        "ss_lr_scheduler": cfg.lr_scheduler,
        "ss_lr_warmup_steps": cfg.lr_warmup_steps,
        "ss_optimizer": "torch.optim.AdamW",
        "ss_max_grad_norm": cfg.max_grad_norm,
        "ss_seed": cfg.seed,
        "ss_noise_offset": cfg.noise_offset,
        "ss_min_snr_gamma": cfg.min_snr_gamma,
        "ss_caption_dropout_rate": cfg.caption_dropout,
        "ss_mixed_precision": cfg.mixed_precision,
        "ss_gradient_checkpointing": cfg.gradient_checkpointing,
        "ss_cache_latents": cfg.cache_latents,
        "ss_output_name": cfg.output_name,
        "ss_training_started_at": info.started,
        "ss_training_finished_at": info.finished,
        "sshs_model_hash": addnet_hash(tensors),
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": architecture,
        "modelspec.implementation": "diffusers",
        "modelspec.title": cfg.output_name,
        "modelspec.resolution": f"{cfg.resolution}x{cfg.resolution}",
        "modelspec.date": info.finished,
    }
    return {key: str(value) for key, value in meta.items()}


def save_kohya_lora(path: Path, unet: Any, text_encoder: Any | None, info: ExportInfo,
                    text_encoder_2: Any | None = None) -> Path:
    from safetensors.torch import save_file

    tensors = kohya_state_dict(unet, text_encoder, text_encoder_2)
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata=kohya_metadata(info, tensors))
    return Path(path)


def write_model_card(out_dir: Path, info: ExportInfo) -> Path:
    from huggingface_hub import ModelCardData

    cfg = info.config
    data = ModelCardData(
        base_model=info.base.spec if "/" in info.base.spec else None,
        library_name="diffusers",
        license="creativeml-openrail-m",
        language=["ko"],
        tags=["stable-diffusion", *(["stable-diffusion-xl"] if info.sdxl else []), "text-to-image", "diffusers",
              "lora", "korean", "kcli"],
        inference=True,
    )
    lines = [
        "---", data.to_yaml(), "---", "",
        f"# {md_text(cfg.output_name)}: LoRA for {md_text(info.base.spec)}", "",
        f"Trained with kcli {__version__} on {info.num_images} images (manifest "
        f"{md_code(info.manifest_fingerprint[:16])}, captions from {md_code(cfg.caption_col)}), {info.steps} steps, "
        f"rank {cfg.rank}, alpha {cfg.alpha}, learning rate {cfg.learning_rate}, resolution {cfg.resolution} "
        f"with aspect-ratio buckets {json.dumps(info.buckets)}.", "",
        f"Text encoder: {md_code(info.text_encoder.spec)} (fingerprint {md_code(info.text_encoder.fingerprint[:16])}). "
        "Prompts must be encoded with this same encoder: a LoRA trained on a replaced (Korean) encoder's "
        "states does not fit the base's original one.", "",
        "## Files", "",
        f"- `{DIFFUSERS_FILE}`: diffusers / peft format, `pipe.load_lora_weights(folder)`",
        f"- `{cfg.output_name}.safetensors`: kohya-ss / A1111 format (ComfyUI, WebUI), `ss_*` metadata",
        "- `kcli_config.json`: the resolved training config; `metrics.jsonl`: loss per step", "",
        "## Use", "", *usage_lines(info), "",
        "## Final metrics", "", *(f"- {k}: {v:.5g}" for k, v in sorted(info.metrics.items())), "",
    ]
    if info.sample_grid:
        lines += ["## Samples", "", md_image("validation samples", info.sample_grid), ""]
    path = Path(out_dir) / MODEL_CARD
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return path


def usage_lines(info: ExportInfo) -> list[str]:
    """The model card's code sample: with the replacement text encoder when the LoRA was trained on one."""
    cfg = info.config
    prompt = cfg.validation_prompts[0] if cfg.validation_prompts else "한옥"
    pipeline = "StableDiffusionXLPipeline" if info.sdxl else "StableDiffusionPipeline"
    lines = ["```python", f"from diffusers import {pipeline}"]
    if cfg.text_encoder:
        lines += ["from transformers import AutoTokenizer, CLIPTextModel", "",
                  f"encoder = CLIPTextModel.from_pretrained({cfg.text_encoder!r})",
                  f"tokenizer = AutoTokenizer.from_pretrained({cfg.text_encoder!r})",
                  f"pipe = {pipeline}.from_pretrained({info.base.spec!r}, text_encoder=encoder, "
                  "tokenizer=tokenizer)"]
    else:
        lines += ["", f"pipe = {pipeline}.from_pretrained({info.base.spec!r})"]
    lines += ["pipe.load_lora_weights('path/to/this/folder')", f"image = pipe({prompt!r}).images[0]", "```", "",
              f"or `kcli generate {prompt!r} --base {info.base.spec} --lora path/to/this/folder:1.0 --out DIR"
              + (f" --text-encoder {cfg.text_encoder}`" if cfg.text_encoder else "`")]
    return lines


def export_lora(out_dir: Path, unet: Any, text_encoder: Any | None, info: ExportInfo,
                text_encoder_2: Any | None = None) -> dict[str, str]:
    """Write both weight files and the model card into ``out_dir``; returns their paths by format."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    diffusers_path = save_diffusers_lora(out_dir, unet, text_encoder, text_encoder_2)
    kohya_path = save_kohya_lora(out_dir / f"{info.config.output_name}.safetensors", unet, text_encoder, info,
                                 text_encoder_2)
    card = write_model_card(out_dir, info)
    return {"diffusers": str(diffusers_path), "kohya": str(kohya_path), "model_card": str(card)}
