"""Prompts longer than CLIP's 77 positions, encoded in chunks of 75 tokens as A1111 and compel encode them.

CLIP's text encoder has 77 position embeddings: start-of-text, 75 tokens, end-of-text. A plain diffusers
pipeline cuts every token after the 75th with only a log line, and Korean runs long: 200 characters come to
roughly 200–310 CLIP tokens. A1111's WebUI (``modules/sd_hijack_clip.py``) and compel split the token ids
into chunks of 75, wrap each in start/end-of-text, pad it to 77, encode the chunks separately and
concatenate the hidden states along the sequence axis; the UNet's cross-attention reads any number of
text positions. The negative prompt is chunked the same way, and the shorter of the two is padded with
empty-prompt chunks, because classifier-free guidance runs both through the UNet as one batch.

A prompt of at most 75 tokens makes exactly the plain pipeline's ids, so its embeddings are unchanged.
Each image's sequence length depends only on its own prompt and the negative prompt: :meth:`PromptEmbeds.groups`
sorts a batch by length so that no prompt is padded for the sake of another, and an image stays the same
whatever batch renders it. A tokenizer without start/end-of-text tokens cannot be chunked; its prompts are
cut at the encoder's length with a warning.

SDXL (:func:`encode_prompts_sdxl`) reads two encoders: each chunk row goes through both, their penultimate
states are concatenated along the width (what ``StableDiffusionXLPipeline.encode_prompt`` does for one
chunk), and the pooled embedding is the second encoder's ``text_embeds`` of the first chunk, as A1111
pools SDXL long prompts. Both tokenizers are chunked alike; when their chunk counts differ (two different
vocabularies) the shorter is padded with empty-prompt chunks. With no negative prompt at all and the
pipeline's ``force_zeros_for_empty_prompt``, the negative states and pooled embedding are zeros, as in the
pipeline itself, so a short prompt gets exactly ``encode_prompt``'s tensors.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenCount:
    """How the text encoder reads one prompt: ``tokens`` (without start/end-of-text) in ``chunks`` passes."""

    tokens: int
    per_chunk: int  # tokens one pass of the encoder holds: 75 for CLIP's 77 positions
    chunks: int
    truncated: bool  # True: only the first ``per_chunk`` tokens are read (a tokenizer that cannot be chunked)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def can_chunk(tokenizer: Any) -> bool:
    return tokenizer.bos_token_id is not None and tokenizer.eos_token_id is not None


def per_chunk(tokenizer: Any) -> int:
    return int(tokenizer.model_max_length) - 2


def prompt_token_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The prompt's token ids without start/end-of-text, however long (no truncation, no length warning)."""
    return list(tokenizer(prompt, add_special_tokens=False, truncation=False, verbose=False).input_ids)


def count_tokens(tokenizer: Any, prompt: str) -> TokenCount:
    """How many tokens ``prompt`` is, and how the encoder reads it; for a prompt box's counter."""
    tokens = len(prompt_token_ids(tokenizer, prompt))
    size = per_chunk(tokenizer)
    if not can_chunk(tokenizer):
        return TokenCount(tokens, size, 1, tokens > size)
    return TokenCount(tokens, size, max(1, -(-tokens // size)), False)


def prompt_chunks(tokenizer: Any, prompt: str) -> list[tuple[list[int], int]]:
    """``prompt`` as rows of ``model_max_length`` ids, [start, up to 75 tokens, end, padding] each, with the
    number of ids before the padding (what an attention mask would cover)."""
    length = int(tokenizer.model_max_length)
    if not can_chunk(tokenizer):
        count = count_tokens(tokenizer, prompt)
        if count.truncated:
            log.warning("prompt of %d tokens cut to the text encoder's %d: %.40r...", count.tokens, length, prompt)
        encoded = tokenizer(prompt, padding="max_length", max_length=length, truncation=True)
        return [(list(encoded.input_ids), int(sum(encoded.attention_mask)))]
    ids, size = prompt_token_ids(tokenizer, prompt), length - 2
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    pieces = [ids[start : start + size] for start in range(0, len(ids), size)] or [[]]
    return [([tokenizer.bos_token_id, *piece, tokenizer.eos_token_id] + [pad] * (size - len(piece)), len(piece) + 2)
            for piece in pieces]


@dataclass
class PromptEmbeds:
    """Per prompt: hidden states ``[1, 77 * chunks, width]``, and the negative prompt's of the same shape."""

    embeds: list[Any]
    negative: list[Any] | None  # None without classifier-free guidance
    pooled: list[Any] | None = None  # SDXL: per prompt, the second encoder's pooled embedding [1, width]
    negative_pooled: list[Any] | None = None

    def groups(self) -> list[list[int]]:
        """Prompt indices grouped by sequence length, in order of first appearance (one UNet batch each)."""
        by_length: dict[int, list[int]] = {}
        for index, embed in enumerate(self.embeds):
            by_length.setdefault(int(embed.shape[1]), []).append(index)
        return list(by_length.values())

    def stacked(self, rows: list[int]) -> tuple[Any, Any]:
        """(prompt_embeds, negative_prompt_embeds or None) of ``rows``, batched for the pipeline."""
        import torch

        embeds = torch.cat([self.embeds[i] for i in rows])
        negative = torch.cat([self.negative[i] for i in rows]) if self.negative is not None else None
        return embeds, negative

    def pipeline_kwargs(self, rows: list[int]) -> dict[str, Any]:
        """The text keyword arguments of a pipeline call for ``rows`` (SDXL adds the pooled embeddings)."""
        import torch

        embeds, negative = self.stacked(rows)
        kwargs = {"prompt_embeds": embeds, "negative_prompt_embeds": negative}
        if self.pooled is not None:
            kwargs["pooled_prompt_embeds"] = torch.cat([self.pooled[i] for i in rows])
            if self.negative_pooled is not None:
                kwargs["negative_pooled_prompt_embeds"] = torch.cat([self.negative_pooled[i] for i in rows])
        return kwargs


def encode_prompts(tokenizer: Any, text_encoder: Any, prompts: list[str], negative_prompt: str, device: Any,
                   guidance: bool) -> PromptEmbeds:
    """Chunked hidden states of ``prompts`` (and, with ``guidance``, of ``negative_prompt`` for each)."""
    import torch

    empty = prompt_chunks(tokenizer, "")
    negative = prompt_chunks(tokenizer, negative_prompt) if guidance else []
    rows: list[tuple[list[int], int]] = []
    spans: list[tuple[int, int]] = []  # (first row, chunks) of each prompt; its negative follows it
    for prompt in prompts:
        chunks = prompt_chunks(tokenizer, prompt)
        size = max(len(chunks), len(negative))
        spans.append((len(rows), size))
        rows += chunks + empty * (size - len(chunks))
        if guidance:
            rows += negative + empty * (size - len(negative))
    ids = torch.tensor([row for row, _ in rows], dtype=torch.long, device=device)
    mask = None
    if getattr(text_encoder.config, "use_attention_mask", False):  # as diffusers' encode_prompt decides
        used = torch.tensor([n for _, n in rows], device=device)
        mask = (torch.arange(ids.shape[1], device=device)[None] < used[:, None]).long()
    hidden = text_encoder(ids, attention_mask=mask)[0]
    width = hidden.shape[-1]

    def joined(start: int, size: int) -> Any:
        return hidden[start : start + size].reshape(1, -1, width)

    embeds = [joined(start, size) for start, size in spans]
    negatives = [joined(start + size, size) for start, size in spans] if guidance else None
    return PromptEmbeds(embeds, negatives)


def pipeline_tokenizers(pipe: Any) -> list[Any]:
    """The pipeline's tokenizers: one for SD 1.x, two for SDXL."""
    second = getattr(pipe, "tokenizer_2", None)
    return [pipe.tokenizer] + ([second] if second is not None else [])


def count_prompt_tokens(pipe: Any, prompt: str) -> TokenCount:
    """:func:`count_tokens` for the pipeline's tokenizer that needs the most chunks (SDXL has two)."""
    return max((count_tokens(t, prompt) for t in pipeline_tokenizers(pipe)), key=lambda c: (c.chunks, c.tokens))


def encode_pipeline_prompts(pipe: Any, prompts: list[str], negative_prompt: str | None, device: Any,
                            guidance: bool) -> PromptEmbeds:
    """Chunked prompt embeddings for ``pipe``: SD 1.x's one encoder, or SDXL's two with pooled embeddings."""
    if getattr(pipe, "text_encoder_2", None) is not None:
        return encode_prompts_sdxl(pipe, prompts, negative_prompt, device, guidance)
    return encode_prompts(pipe.tokenizer, pipe.text_encoder, prompts, negative_prompt or "", device, guidance)


def _sdxl_rows(tokenizers: list[Any], text: str, size: int = 1) -> list[list[tuple[list[int], int]]]:
    """Per tokenizer, the chunk rows of ``text``, padded with empty chunks to the same count (at least ``size``)."""
    per = [prompt_chunks(t, text) for t in tokenizers]
    size = max(size, *(len(rows) for rows in per))
    return [rows + prompt_chunks(t, "") * (size - len(rows)) for t, rows in zip(tokenizers, per)]


def _sdxl_encode(pipe: Any, rows: list[list[tuple[list[int], int]]], device: Any) -> tuple[Any, Any]:
    """(states [1, 77 * chunks, width1 + width2], pooled [1, width] of the first chunk) of one text's rows."""
    import torch

    from ktrain.lora.sdxl import SDXL_HIDDEN_LAYER

    states, pooled = [], None
    for encoder, encoder_rows in zip([pipe.text_encoder, pipe.text_encoder_2], rows):
        ids = torch.tensor([row for row, _ in encoder_rows], dtype=torch.long, device=device)
        output = encoder(ids, output_hidden_states=True)
        states.append(output.hidden_states[SDXL_HIDDEN_LAYER])
        pooled = output[0][:1]  # CLIPTextModelWithProjection's text_embeds, as encode_prompt takes it
    hidden = torch.cat(states, dim=-1)
    return hidden.reshape(1, -1, hidden.shape[-1]), pooled


def encode_prompts_sdxl(pipe: Any, prompts: list[str], negative_prompt: str | None, device: Any,
                        guidance: bool) -> PromptEmbeds:
    """SDXL's chunked states and pooled embeddings of ``prompts`` and, with ``guidance``, of the negative
    prompt (padded to each prompt's chunk count, or the prompt to its)."""
    import torch

    tokenizers = pipeline_tokenizers(pipe)
    negative = _sdxl_rows(tokenizers, negative_prompt or "") if guidance else None
    zeros = negative_prompt is None and bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False))
    text = PromptEmbeds([], [] if guidance else None, [], [] if guidance else None)
    for prompt in prompts:
        rows = _sdxl_rows(tokenizers, prompt, len(negative[0]) if negative else 1)
        states, pooled = _sdxl_encode(pipe, rows, device)
        text.embeds.append(states)
        text.pooled.append(pooled)
        if negative is not None:
            states, pooled = _sdxl_encode(pipe, _sdxl_rows(tokenizers, negative_prompt or "", len(rows[0])), device)
            if zeros:  # the pipeline's own choice for "no negative prompt"
                states, pooled = torch.zeros_like(states), torch.zeros_like(pooled)
            text.negative.append(states)
            text.negative_pooled.append(pooled)
    return text
