"""``kcli publish model``: a trained LoRA or Korean encoder folder, staged and uploaded as a Hub model repo.

Staging copies what a user of the model needs (weights, tokenizer files, the resolved config, metrics,
sample grids; no checkpoints, caches or kcli housekeeping) into a folder, and renders the model card's code
block with the Hub ids the model and its base are published under, so the code runs as written for anyone.
A base or encoder that was a local folder at training time has no id the card could name: publishing then
needs ``--base-id`` / ``--encoder-id``, and says so in one line before anything is copied.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdata.atomic import atomic_path
from kdata.errors import ConfigError
from kdata.outputs import HOUSEKEEPING
from ktrain.release.usage import EncoderUsage, LoraUsage, is_hub_id, public_name, replace_usage

LORA_MARKER = "pytorch_lora_weights.safetensors"
ENCODER_MARKER = "kcli_encoder.json"
CARD = "README.md"
# Training state a model repo does not need: resumable checkpoints and kcli's caches and locks.
LEFT_OUT = ("checkpoint-*", "*.partial", ".*", "cache", "teacher-cache", *sorted(HOUSEKEEPING))


@dataclass(frozen=True)
class ModelRelease:
    """Where a model goes: its repo id, and the Hub ids of what it was trained on (when they were local)."""

    repo_id: str
    base_id: str | None = None
    encoder_id: str | None = None

    def __post_init__(self) -> None:
        for name, value in (("--repo-id", self.repo_id), ("--base-id", self.base_id),
                            ("--encoder-id", self.encoder_id)):
            if value is not None and not is_hub_id(value):
                raise ConfigError(f"{name} {value!r}: expected a Hub id ORG/NAME")


def model_kind(folder: Path) -> str:
    """``lora`` or ``encoder``, from the files kcli's trainers write; a one-line error otherwise."""
    if (folder / LORA_MARKER).exists():
        return "lora"
    if (folder / ENCODER_MARKER).exists():
        return "encoder"
    raise ConfigError(f"{folder} is neither a kcli LoRA ({LORA_MARKER}) nor a kcli encoder export "
                      f"({ENCODER_MARKER}); pass the --out folder of `kcli train lora` or an encoder's best/ folder")


def hub_id_for(spec: str, given: str | None, flag: str, what: str) -> str:
    """``spec`` when it is already a Hub id, else the id given with ``flag``; a one-line error when neither."""
    if given:
        return given
    if is_hub_id(spec):
        return spec
    raise ConfigError(f"the {what} was a local model at training time ({public_name(spec)[0]}): pass {flag} "
                      "ORG/NAME, its Hub id, so the model card's code runs for others")


def lora_usage(folder: Path, release: ModelRelease) -> LoraUsage:
    record = json.loads((folder / "kcli_config.json").read_text(encoding="utf-8"))
    config = record.get("config", {})
    prompts = config.get("validation_prompts") or ["한옥"]
    encoder = config.get("text_encoder")
    return LoraUsage(
        base=hub_id_for(record["base"]["id"], release.base_id, "--base-id", "base model"),
        lora=release.repo_id,
        text_encoder=hub_id_for(encoder, release.encoder_id, "--encoder-id", "text encoder") if encoder else None,
        prompt=prompts[0], sdxl=is_sdxl_lora(folder),
    )


def is_sdxl_lora(folder: Path) -> bool:
    """An SDXL LoRA has weights for the second text encoder or says so in its kohya metadata."""
    from safetensors import safe_open

    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("ss_base_model_version", "").startswith("sdxl"):
                return True
            if any(key.startswith(("text_encoder_2.", "lora_te2_")) for key in f.keys()):  # noqa: SIM118 - safe_open is not iterable
                return True
    return False


def encoder_card(folder: Path, release: ModelRelease) -> str:
    """A model card for an encoder export (the trainer writes none): facts from ``kcli_encoder.json``."""
    from huggingface_hub import ModelCardData

    components = json.loads((folder / ENCODER_MARKER).read_text(encoding="utf-8"))["components"]
    teacher = next(iter(components.values()))["teacher"]
    base = hub_id_for(teacher, release.base_id, "--base-id", "teacher (base pipeline)")
    usage = EncoderUsage(encoder=release.repo_id, base=base, components=tuple(sorted(components)))
    data = ModelCardData(base_model=base, library_name="transformers", language=["ko", "en"], license="apache-2.0",
                         tags=["clip", "text-encoder", "korean", "stable-diffusion", "kcli"])
    facts = []
    for name, info in sorted(components.items()):
        val = info.get("validation") or {}
        scores = ", ".join(f"{k} {v:.4g}" for k, v in sorted(val.items()) if isinstance(v, (int, float)))
        facts.append(f"- `{name}`: distilled from {public_name(info['teacher'])[0]}'s encoder, {info.get('step')} "
                     f"steps on corpus {str(info.get('fingerprint', ''))[:16]}" + (f"; validation: {scores}" if scores
                                                                                    else ""))
    text = "\n".join(["---", data.to_yaml(), "---", "", f"# {release.repo_id.split('/')[-1]}: a Korean text encoder "
                      f"for {base}", "", "Reads Korean prompts into the states the base pipeline's own encoder "
                      "gives their English translations; it replaces that encoder in an unchanged pipeline.", "",
                      *facts, "", "## Use", ""])
    return replace_usage(text + "\n", usage.code())


def with_base_model(card_text: str, base: str) -> str:
    """The card with ``base_model`` in its front matter (the Hub's model tree links the two)."""
    from huggingface_hub import ModelCard

    card = ModelCard(card_text)
    card.data.base_model = base
    return str(card)


def stage_model(folder: Path, staged: Path, release: ModelRelease) -> dict[str, Any]:
    """Copy ``folder`` into ``staged`` without training state, with the card pointed at ``release``'s ids."""
    folder, staged = Path(folder), Path(staged)
    kind = model_kind(folder)
    if kind == "lora":
        usage = lora_usage(folder, release)
        card_text = with_base_model(replace_usage((folder / CARD).read_text(encoding="utf-8"), usage.code()),
                                    usage.base)
    else:
        card_text = encoder_card(folder, release)
    if staged.exists():
        shutil.rmtree(staged)
    shutil.copytree(folder, staged, ignore=shutil.ignore_patterns(*LEFT_OUT))
    with atomic_path(staged / CARD) as tmp:
        tmp.write_text(card_text, encoding="utf-8")
    files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
    return {"kind": kind, "folder": str(staged), "repo_id": release.repo_id, "files": files}


def publish_model(folder: Path, release: ModelRelease, to: Path | None, private: bool) -> dict[str, Any]:
    """Stage ``folder`` (into ``to``, or a temporary folder) and upload it unless only ``to`` was asked for.

    The Hub is checked first, so a missing token fails before any copying."""
    import tempfile

    from kdata.publish.hub import check_hub_ready, upload_folder

    upload = to is None
    model_kind(Path(folder))
    if upload:
        check_hub_ready(release.repo_id)
    with tempfile.TemporaryDirectory(prefix="kcli-model-") as scratch:
        staged = stage_model(Path(folder), Path(to) if to else Path(scratch) / "model", release)
        if upload:
            staged["upload"] = upload_folder(Path(staged["folder"]), release.repo_id, "model", private,
                                             f"Publish {staged['kind']} from kcli")
    return staged
