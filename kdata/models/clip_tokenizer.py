"""The English CLIP byte-level BPE tokenizer, rebuilt offline from the vocabulary open_clip ships.

open_clip's wheel carries OpenAI's `bpe_simple_vocab_16e6.txt.gz`. Reading it the way OpenAI's
`simple_tokenizer.py` does gives exactly the 49,408-entry vocabulary of every CLIP / SD-1.x text encoder:
256 byte characters, their word-final `</w>` forms, 48,894 merges, then `<|startoftext|>` and
`<|endoftext|>`. Having all 512 byte forms is what makes Hangul (or any text) tokenize without an
unknown token: an unseen character falls back to its UTF-8 bytes.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from kdata.deps import install_command, require
from kdata.errors import MissingDependencyError

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

CLIP_VOCAB_SIZE = 49408
CLIP_CONTEXT_LENGTH = 77
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
BOS_TOKEN_ID = CLIP_VOCAB_SIZE - 2
EOS_TOKEN_ID = CLIP_VOCAB_SIZE - 1
# simple_tokenizer.py keeps merges[1 : 49152 - 256 - 2 + 1]: line 0 is a "#version" header.
_NUM_MERGES = 49152 - 256 - 2
_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table, which CLIP's BPE is written in."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def clip_bpe_path() -> Path:
    """The gzipped merges file inside the installed open_clip package (found without importing it)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the CLIP BPE vocabulary ships with open_clip; install it with: {install_command('models')}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / _BPE_FILE


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], tuple[tuple[str, str], ...]]:
    """CLIP's token -> id map and its ordered merges, exactly as OpenAI's tokenizer builds them."""
    with gzip.open(clip_bpe_path(), "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    merges = tuple((left, right) for left, right in (line.split() for line in lines[1 : _NUM_MERGES + 1]))
    byte_chars = list(bytes_to_unicode().values())
    tokens = [*byte_chars, *(c + "</w>" for c in byte_chars), *("".join(m) for m in merges), BOS_TOKEN, EOS_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != CLIP_VOCAB_SIZE:  # a different file under the same name; fail before saving it
        raise RuntimeError(f"{_BPE_FILE}: expected {CLIP_VOCAB_SIZE} tokens, got {len(vocab)}")
    return vocab, merges


def write_clip_bpe_files(out_dir: Path) -> None:
    """Write `vocab.json` + `merges.txt` in the layout of the Hub's openai/clip-* repositories."""
    vocab, merges = clip_vocab_and_merges()
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = "\n".join(f"{left} {right}" for left, right in merges)
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + merge_lines + "\n", encoding="utf-8")


def build_clip_tokenizer() -> CLIPTokenizer:
    """A transformers CLIPTokenizer with the real CLIP vocabulary (pads with end-of-text, like SD-1.x)."""
    transformers = require("transformers", "transformers")
    vocab, merges = clip_vocab_and_merges()
    # transformers 5 wants merges as a list of 2-tuples when the tokenizer is built in memory.
    return transformers.CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=CLIP_CONTEXT_LENGTH)
