"""The code block of a model card: Python that runs as written once the model is where the card says.

The block sits between two HTML comments (``USAGE_START`` / ``USAGE_END``) so ``kcli publish model`` can
render it again with the Hub ids the model is published under. A model card is read on the Hub by people
who do not have this machine's folders: a local base or encoder is named by its folder name only, with a
comment saying how to give its Hub id, never by its absolute path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

USAGE_START = "<!-- kcli:usage -->"
USAGE_END = "<!-- /kcli:usage -->"
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # diffusers' own LoRA file name
THIS_FOLDER = "."  # what the card loads the model from before it has a Hub id
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(spec: str | None) -> bool:
    """``org/name`` that is not a folder on this machine."""
    return bool(spec) and bool(_HUB_ID.match(spec)) and not Path(spec).exists()


def public_name(spec: str) -> tuple[str, str]:
    """(what the card may print for ``spec``, a comment when that is not yet loadable by others)."""
    if is_hub_id(spec):
        return spec, ""
    name = Path(spec.rstrip("/")).name or spec
    return name, "  # a local model at training time: its Hub id goes here (kcli publish model --base-id)"


@dataclass(frozen=True)
class LoraUsage:
    """What the LoRA card's code needs: where the base, the LoRA and (optionally) the text encoder live."""

    base: str
    lora: str = THIS_FOLDER
    text_encoder: str | None = None
    prompt: str = "한옥"
    sdxl: bool = False

    @property
    def pipeline_class(self) -> str:
        return "StableDiffusionXLPipeline" if self.sdxl else "StableDiffusionPipeline"

    def code(self) -> list[str]:
        base, base_note = public_name(self.base)
        lines = [f"from diffusers import {self.pipeline_class}"]
        if self.text_encoder:
            encoder, encoder_note = public_name(self.text_encoder)
            lines += ["from transformers import CLIPTextModel, CLIPTokenizer", "",
                      f"encoder_id = {encoder!r}{encoder_note}",
                      'encoder = CLIPTextModel.from_pretrained(encoder_id, subfolder="text_encoder")',
                      'tokenizer = CLIPTokenizer.from_pretrained(encoder_id, subfolder="tokenizer")',
                      f"pipe = {self.pipeline_class}.from_pretrained({base!r}, text_encoder=encoder, "
                      f"tokenizer=tokenizer){base_note}"]
        else:
            lines += ["", f"pipe = {self.pipeline_class}.from_pretrained({base!r}){base_note}"]
        where = "  # this folder; its Hub id once published" if self.lora == THIS_FOLDER else ""
        # weight_name: diffusers can only guess the file online; named, it also loads from a local cache.
        lines += [f"pipe.load_lora_weights({self.lora!r}, weight_name={LORA_WEIGHTS!r}){where}",
                  f"image = pipe({self.prompt!r}).images[0]"]
        return lines


@dataclass(frozen=True)
class EncoderUsage:
    """The Korean encoder card's code: the encoder folder's components handed to an unchanged pipeline."""

    encoder: str
    base: str
    components: tuple[str, ...] = ("text_encoder",)
    prompt: str = "한복을 입은 여인"

    def code(self) -> list[str]:
        encoder, encoder_note = public_name(self.encoder)
        base, base_note = public_name(self.base)
        sdxl = "text_encoder_2" in self.components
        pipeline = "StableDiffusionXLPipeline" if sdxl else "StableDiffusionPipeline"
        lines = [f"from diffusers import {pipeline}", "from transformers import CLIPTextModel, CLIPTokenizer",
                 "", f"encoder_id = {encoder!r}{encoder_note}", "parts = {}"]
        for component in self.components:
            tokenizer = component.replace("text_encoder", "tokenizer")
            model_class = "CLIPTextModelWithProjection" if component == "text_encoder_2" else "CLIPTextModel"
            if model_class != "CLIPTextModel":
                lines.insert(1, f"from transformers import {model_class}")
            lines += [f'parts["{component}"] = {model_class}.from_pretrained(encoder_id, subfolder="{component}")',
                      f'parts["{tokenizer}"] = CLIPTokenizer.from_pretrained(encoder_id, subfolder="{tokenizer}")']
        lines += [f"pipe = {pipeline}.from_pretrained({base!r}, **parts){base_note}",
                  f"image = pipe({self.prompt!r}).images[0]"]
        return lines


def usage_block(code: list[str]) -> str:
    """The marked Markdown block holding ``code``."""
    return "\n".join([USAGE_START, "```python", *code, "```", USAGE_END])


def replace_usage(card_text: str, code: list[str]) -> str:
    """``card_text`` with its marked usage block rendered again (appended under "## Use" when it has none)."""
    block = usage_block(code)
    pattern = re.compile(re.escape(USAGE_START) + r".*?" + re.escape(USAGE_END), re.S)
    if pattern.search(card_text):
        return pattern.sub(lambda _: block, card_text, count=1)
    return card_text.rstrip("\n") + "\n\n## Use\n\n" + block + "\n"


def code_blocks(card_text: str) -> list[str]:
    """The Python code blocks of a Markdown card, in order (what a reader would copy)."""
    return [m.group(1) for m in re.finditer(r"```python\n(.*?)```", card_text, re.S)]
