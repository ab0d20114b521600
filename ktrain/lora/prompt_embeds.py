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
