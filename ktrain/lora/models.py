"""Stable Diffusion 1.x and SDXL components for training and generation, with an optional replacement
text encoder (SD 1.x).

The base is a diffusers folder, a Hub id, the ``tiny-sd``/``tiny-sdxl`` presets or one original-layout
``.safetensors`` checkpoint (:mod:`ktrain.lora.bases` says which files each means);
:func:`load_base_pipeline` is the one place that loads it, for training, ``generate``, ``eval t2i``
and ``serve``. ``--text-encoder DIR`` replaces the base's CLIP text encoder and tokenizer with any
``CLIPTextModel`` folder — the kcli Korean
encoder, or a pipeline's ``text_encoder``/``tokenizer`` subfolders saved side by side. Its hidden size must
equal the UNet's cross-attention width. With an SDXL base it names an encoder pair folder (both encoders and
both tokenizers, :func:`load_text_encoder_pair`).

An SDXL base (told apart by its ``model_index.json``, :func:`ktrain.lora.bases.base_family`) loads as a
``StableDiffusionXLPipeline``: its second tokenizer and text encoder ride along in :class:`SDComponents`,
and :mod:`ktrain.lora.sdxl` holds what SDXL adds (penultimate states of both encoders, the pooled
embedding, size/crop ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.errors import ConfigError, KcliError
from kdata.models.resolve import load_errors, resolve_model
from ktrain.lora.bases import SDXL, base_family, resolve_base
from ktrain.lora.config import LoraTrainConfig
from ktrain.lora.fingerprint import model_fingerprint


@dataclass
class ModelRef:
    """A model as a user named it, where it was loaded from, and a fingerprint of its files."""

    spec: str
    path: str
    fingerprint: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.spec, "path": self.path, "fingerprint": self.fingerprint}


@dataclass
class SDComponents:
    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    noise_scheduler: Any
    base: ModelRef
    text_encoder_ref: ModelRef  # the base's own encoder when no --text-encoder is given (SDXL: both encoders)
    vae_ref: ModelRef
    tokenizer_2: Any = None  # SDXL's second tokenizer and encoder (CLIPTextModelWithProjection)
    text_encoder_2: Any = None

    @property
    def is_sdxl(self) -> bool:
        return self.text_encoder_2 is not None

    @property
    def text_encoders(self) -> list[Any]:
        return [self.text_encoder] + ([self.text_encoder_2] if self.is_sdxl else [])

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this: VAE downsampling times the UNet's own downsampling."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def max_length(self) -> int:
        return int(self.tokenizer.model_max_length)


def text_encoder_dirs(path: str | Path) -> tuple[Path, Path]:
    """(model dir, tokenizer dir): a plain CLIPTextModel folder, or a pipeline-style folder with subfolders."""
    root = Path(path)
    if (root / "text_encoder" / "config.json").exists():
        return root / "text_encoder", root / "tokenizer"
    if not (root / "config.json").exists():
        raise ConfigError(
            f"--text-encoder {path}: expected a CLIPTextModel folder (config.json, weights and tokenizer files)"
        )
    return root, root


def load_text_encoder(spec: str | None, base: Path, dtype: Any) -> tuple[Any, Any, ModelRef]:
    """(tokenizer, CLIPTextModel, ref) from ``spec`` or, when None, from the base's subfolders."""
    from transformers import AutoTokenizer, CLIPTextModel

    model_dir, tok_dir = text_encoder_dirs(spec) if spec else (base / "text_encoder", base / "tokenizer")
    with load_errors(str(spec or base), "text encoder"):
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        encoder = CLIPTextModel.from_pretrained(model_dir, dtype=dtype)
    fit_max_length(tokenizer, encoder)
    ref = ModelRef(spec or f"{base}:text_encoder", str(model_dir), model_fingerprint(model_dir, tok_dir))
    return tokenizer, encoder, ref


def load_text_encoder_pair(spec: str, dtype: Any) -> tuple[Any, ...]:
    """(tokenizer, CLIPTextModel, ref, tokenizer_2, CLIPTextModelWithProjection) from an SDXL encoder-pair
    folder: ``text_encoder/``, ``tokenizer/``, ``text_encoder_2/``, ``tokenizer_2/`` (``kcli train
    encoder-sdxl`` exports this layout, as does a diffusers SDXL folder)."""
    from transformers import AutoTokenizer, CLIPTextModel, CLIPTextModelWithProjection

    root = Path(spec)
    names = ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
    missing = [n for n in names if not (root / n).is_dir()]
    if missing:
        raise ConfigError(f"--text-encoder {spec}: an SDXL base needs an encoder pair folder with text_encoder/, "
                          f"tokenizer/, text_encoder_2/ and tokenizer_2/ (kcli train encoder-sdxl); missing "
                          f"{', '.join(n + '/' for n in missing)}")
    with load_errors(spec, "text encoder pair"):
        tokenizer, tokenizer_2 = (AutoTokenizer.from_pretrained(root / n) for n in ("tokenizer", "tokenizer_2"))
        encoder = CLIPTextModel.from_pretrained(root / "text_encoder", dtype=dtype)
        encoder_2 = CLIPTextModelWithProjection.from_pretrained(root / "text_encoder_2", dtype=dtype)
    fit_max_length(tokenizer, encoder)
    fit_max_length(tokenizer_2, encoder_2)
    ref = ModelRef(spec, str(root / "text_encoder"), model_fingerprint(*(root / n for n in names)))
    return tokenizer, encoder, ref, tokenizer_2, encoder_2


def fit_max_length(tokenizer: Any, encoder: Any) -> None:
    positions = encoder.config.max_position_embeddings
    if not 0 < (getattr(tokenizer, "model_max_length", 0) or 0) <= positions:
        tokenizer.model_max_length = positions  # pipelines pad to this; a tokenizer without a limit says 1e30


def load_base_pipeline(spec: str, dtype: Any, text_encoder: str | None = None, variant: str | None = None,
                       base_config: str | None = None) -> tuple[Any, dict[str, ModelRef]]:
    """The base as a ``StableDiffusionPipeline`` in ``dtype`` on the CPU, and refs to what was loaded.

    A folder or Hub id loads through ``from_pretrained`` (``variant``, e.g. ``fp16``, picks those weight
    files); a ``.safetensors`` file through ``from_single_file``, its component configs from ``base_config``
    (a diffusers folder, Hub id or preset of the same architecture) or, without one, from the Hub repository
    diffusers infers from the checkpoint's keys. Refs: ``base``, ``text_encoder`` (the replacement or the
    base's own) and ``vae``.
    """
    source = resolve_base(spec, variant)
    sdxl = base_family(source) == SDXL
    replaced = None
    if text_encoder:
        replaced = load_text_encoder_pair(text_encoder, dtype) if sdxl else load_text_encoder(text_encoder, source,
                                                                                               dtype)
    parts: dict[str, Any] = {"feature_extractor": None, "image_encoder": None, "dtype": dtype}
    if not sdxl:
        parts.update(safety_checker=None, requires_safety_checker=False)
    if replaced:
        parts.update(tokenizer=replaced[0], text_encoder=replaced[1])
        if sdxl:
            parts.update(tokenizer_2=replaced[3], text_encoder_2=replaced[4])
    pipeline_class = pipeline_class_for(sdxl)
    if source.is_file():
        pipe = load_single_file(spec, source, base_config, parts, pipeline_class)
    else:
        with load_errors(spec, "Stable Diffusion model"):
            pipe = pipeline_class.from_pretrained(source, variant=variant, **parts)
    refs = base_refs(spec, source, sdxl)
    if replaced:
        refs["text_encoder"] = replaced[2]
    check_text_width(spec, pipe, refs["text_encoder"])
    return pipe, refs


def pipeline_class_for(sdxl: bool) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if sdxl else StableDiffusionPipeline


def check_text_width(spec: str, pipe: Any, encoder_ref: ModelRef) -> None:
    """The UNet's cross-attention width must equal the text states' (SDXL: both encoders side by side)."""
    encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if getattr(pipe, "text_encoder_2", None) else [])
    for tokenizer, encoder in zip([pipe.tokenizer, getattr(pipe, "tokenizer_2", None)], encoders):
        fit_max_length(tokenizer, encoder)
    width = sum(encoder.config.hidden_size for encoder in encoders)
    if width != pipe.unet.config.cross_attention_dim:
        raise ConfigError(
            f"text encoder {encoder_ref.spec} has hidden size {width}, but the UNet of {spec} attends to "
            f"{pipe.unet.config.cross_attention_dim}-wide text states; use an encoder made for this base"
        )


def load_single_file(spec: str, path: Path, base_config: str | None, parts: dict[str, Any],
                     pipeline_class: Any) -> Any:
    """An original-layout checkpoint through diffusers' ``from_single_file``, configs from ``base_config``."""
    config = resolve_model(base_config, family="stable-diffusion") if base_config else None
    try:
        with load_errors(spec, "Stable Diffusion checkpoint"):
            pipe = pipeline_class.from_single_file(str(path), config=config, **parts)
    except KcliError as exc:
        if config is None and isinstance(exc.__cause__, OSError):
            reason = (str(exc.__cause__).strip().splitlines() or [type(exc.__cause__).__name__])[0][:160]
            raise KcliError(f"--base {spec}: diffusers could not fetch the component configs of the architecture it "
                            f"infers from this checkpoint ({reason}); set base_config to a diffusers folder, Hub id "
                            "or preset of the same architecture (offline: a local folder)") from exc
        raise
    pipe.register_to_config(_name_or_path=str(path))  # where from_pretrained records its folder
    return pipe


def base_refs(spec: str, source: Path, sdxl: bool = False) -> dict[str, ModelRef]:
    """Ids, paths and fingerprints of the base and of its own text encoder(s) and VAE (what the caches key on).

    SDXL's text states come from both encoders, so its ``text_encoder`` ref fingerprints both with their
    tokenizers."""
    if source.is_file():
        whole = model_fingerprint(source)
        return {"base": ModelRef(spec, str(source), whole),
                "text_encoder": ModelRef(f"{source}:text_encoder", str(source), whole),
                "vae": ModelRef(f"{spec}:vae", str(source), whole)}
    encoder_dir = source / "text_encoder"
    text_parts = [encoder_dir, source / "tokenizer"]
    if sdxl:
        text_parts += [source / "text_encoder_2", source / "tokenizer_2"]
    return {"base": ModelRef(spec, str(source), model_fingerprint(source)),
            "text_encoder": ModelRef(f"{source}:text_encoder" + ("+text_encoder_2" if sdxl else ""),
                                     str(encoder_dir), model_fingerprint(*text_parts)),
            "vae": ModelRef(f"{spec}:vae", str(source / "vae"), model_fingerprint(source / "vae"))}


def load_components(base_spec: str, text_encoder: str | None, dtype: Any, variant: str | None = None,
                    base_config: str | None = None) -> SDComponents:
    """Every part of a Stable Diffusion 1.x or SDXL pipeline in ``dtype``, frozen; LoRA is added by the trainer."""
    from diffusers import DDPMScheduler

    pipe, refs = load_base_pipeline(base_spec, dtype, text_encoder, variant, base_config)
    # Training adds noise as DDPM defines it, with the base's own schedule (betas, steps, prediction type).
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    text_encoder_2 = getattr(pipe, "text_encoder_2", None)
    for module in (pipe.text_encoder, text_encoder_2, pipe.vae, pipe.unet):
        if module is not None:
            module.requires_grad_(False)
            module.eval()
    return SDComponents(pipe.tokenizer, pipe.text_encoder, pipe.vae, pipe.unet, noise_scheduler, refs["base"],
                        refs["text_encoder"], refs["vae"], getattr(pipe, "tokenizer_2", None), text_encoder_2)


def tokenize(tokenizer: Any, captions: list[str], max_length: int) -> Any:
    return tokenizer(
        captions, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
    ).input_ids


def encode_text(components: SDComponents, captions: list[str], device: Any) -> Any:
    """The per-token hidden states SD's UNet attends to (the last layer's output, as the SD 1.x pipeline)."""
    return encode_text_pair(components, captions, device)[0]


def encode_text_pair(components: SDComponents, captions: list[str], device: Any) -> tuple[Any, Any]:
    """(per-token states, pooled embedding or None): SD 1.x reads the last layer and nothing pooled; SDXL
    reads both encoders' penultimate layers and the second encoder's projection (:mod:`ktrain.lora.sdxl`)."""
    if components.is_sdxl:
        from ktrain.lora.sdxl import encode_sdxl_text

        return encode_sdxl_text([components.tokenizer, components.tokenizer_2], components.text_encoders,
                                captions, device)
    ids = tokenize(components.tokenizer, captions, components.max_length).to(device)
    return components.text_encoder(ids)[0], None


def add_lora(components: SDComponents, config: LoraTrainConfig) -> None:
    """LoRA on the UNet's attention projections and, optionally, on the text encoder's (SDXL: both encoders';
    new weights in fp32)."""
    import torch
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    def lora_config(targets: list[str]) -> Any:
        return LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.lora_dropout,
                          init_lora_weights="gaussian", target_modules=list(targets))

    try:
        components.unet.add_adapter(lora_config(config.target_modules))
        if config.train_text_encoder:
            for encoder in components.text_encoders:
                attach_text_encoder_lora(encoder, lora_config(config.text_encoder_target_modules))
    except ValueError as exc:  # peft: "Target modules {...} not found in the base model"
        raise ConfigError(f"cannot add LoRA: {str(exc).splitlines()[0]}") from None
    trained = [components.unet] + (components.text_encoders if config.train_text_encoder else [])
    cast_training_params(trained, dtype=torch.float32)


def attach_text_encoder_lora(text_encoder: Any, lora_config: Any, adapter_name: str = "default") -> None:
    """Inject a LoRA into a transformers text encoder through peft itself.

    transformers 5.24's ``add_adapter``/``load_adapter`` refuse peft older than 0.22, and 0.21.2 is the
    newest peft release, so this calls peft's ``inject_adapter_in_model`` and records the config where
    transformers and diffusers look for it (``peft_config``, ``_hf_peft_config_loaded``).
    """
    from peft import inject_adapter_in_model

    inject_adapter_in_model(lora_config, text_encoder, adapter_name)
    if not isinstance(getattr(text_encoder, "peft_config", None), dict):
        text_encoder.peft_config = {}
    text_encoder.peft_config[adapter_name] = lora_config
    text_encoder._hf_peft_config_loaded = True
