"""Teacher and student text encoders.

The teacher is the text encoder of a Stable Diffusion checkpoint (a diffusers folder or Hub id with a
``text_encoder/`` subfolder, or a bare CLIP text model). The student starts as a copy of it with a new
(Korean) vocabulary: transformer layers, positions and final norm are the teacher's, and each new token's
embedding is the mean of the teacher's embeddings of the tokens the new token splits into under the
teacher's tokenizer. Both vocabularies are CLIP byte-level BPE over the same byte alphabet, so a new
token such as ``한복</w>`` is re-segmented exactly by the teacher's BPE (for example into ``íķľ``,
``ë³µ</w>``); the student therefore starts out reading Korean the way the teacher already does through
byte fallback, instead of from random vectors (Minixhofer et al., 2022, WECHSEL, and Dobler & de Melo,
2023, FOCUS, show such informed initialisation speeds up vocabulary transfer). Alternatively the
student is an existing Korean CLIP text model, loaded as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdata.deps import require
from kdata.errors import ConfigError
from ktrain.encoder.tokenizer import SUFFIX, byte_tokens

WITH_PROJECTION = "CLIPTextModelWithProjection"  # SDXL's second encoder; the first is a plain CLIPTextModel


def _local_subfolder(spec: str, subfolder: str) -> dict[str, str]:
    path = Path(spec).expanduser()
    return {"subfolder": subfolder} if subfolder and (path / subfolder).is_dir() else {}


def load_text_encoder(spec: str, subfolder: str = "text_encoder", dtype: Any = None) -> Any:
    """A CLIP text model from a preset, a diffusers folder/id (``subfolder``), a text-model folder or a CLIP id."""
    torch = require("torch", "torch")
    transformers = require("transformers", "transformers")
    from kdata.models.resolve import load_errors, resolve_model

    path = resolve_model(spec)
    kwargs = _local_subfolder(path, subfolder)
    if not kwargs and subfolder and not Path(path).expanduser().exists():  # a Hub id: try the SD layout first
        kwargs = _hub_subfolder(transformers, path, subfolder)
    with load_errors(spec, "text encoder"):
        config = transformers.AutoConfig.from_pretrained(path, **kwargs)
        cls = getattr(transformers, WITH_PROJECTION) if WITH_PROJECTION in (config.architectures or []) \
            else transformers.CLIPTextModel
        model = cls.from_pretrained(path, dtype=dtype or torch.float32, **kwargs)
    return model


def _hub_subfolder(transformers: Any, repo: str, subfolder: str) -> dict[str, str]:
    try:
        transformers.AutoConfig.from_pretrained(repo, subfolder=subfolder)
    except (OSError, ValueError):
        return {}
    return {"subfolder": subfolder}


def load_teacher_tokenizer(spec: str, subfolder: str = "tokenizer") -> Any:
    from kdata.models.resolve import resolve_model
    from ktrain.encoder.tokenizer import load_tokenizer

    return load_tokenizer(resolve_model(spec), subfolder=subfolder)


def teacher_pieces(
    token: str, teacher_tokenizer: Any, vocab: dict[str, int], bpe: Any, byte_alphabet: set[str]
) -> list[int]:
    """The teacher's ids for one student token (a CLIP byte-level BPE token, or any decodable one).

    ``vocab`` is the teacher's token → id map and ``bpe`` its BPE model (both looked up once by the caller).
    """
    if token in vocab:
        return [vocab[token]]
    final = token.endswith(SUFFIX)
    core = token[: -len(SUFFIX)] if final else token
    if core and set(core) <= byte_alphabet:
        pieces = [t.value for t in bpe.tokenize(core)]
        if not final:  # the teacher's BPE marks the last piece word-final; this token is not
            last = pieces.pop()[: -len(SUFFIX)]
            pieces += [last] if last in vocab else list(last)
        return [vocab[p] for p in pieces]
    # Some other tokenizer family (WordPiece, sentencepiece): go through the token's text.
    return teacher_tokenizer(_token_text(token), add_special_tokens=False).input_ids


def _token_text(token: str) -> str:
    """WordPiece marks continuations with ``##``, sentencepiece marks word starts with ``▁``."""
    return token.replace("##", "").replace("▁", " ").strip() or token


def init_embeddings(teacher: Any, teacher_tokenizer: Any, student_tokenizer: Any) -> Any:
    """One row per student token: the mean of the teacher's embeddings of its pieces (specials map to specials)."""
    torch = require("torch", "torch")
    table = teacher.get_input_embeddings().weight.detach().float()
    specials = {student_tokenizer.bos_token_id: teacher_tokenizer.bos_token_id,
                student_tokenizer.eos_token_id: teacher_tokenizer.eos_token_id}
    alphabet = {t for t in byte_tokens() if not t.endswith(SUFFIX)}
    vocab, bpe = teacher_tokenizer.get_vocab(), teacher_tokenizer.backend_tokenizer.model
    rows = []
    for token, index in sorted(student_tokenizer.get_vocab().items(), key=lambda kv: kv[1]):
        ids = [specials[index]] if index in specials else teacher_pieces(token, teacher_tokenizer, vocab, bpe, alphabet)
        rows.append(table[ids].mean(0) if ids else table.mean(0))
    return torch.stack(rows)


def init_student_from_teacher(teacher: Any, teacher_tokenizer: Any, student_tokenizer: Any) -> Any:
    """A copy of ``teacher`` reading ``student_tokenizer``'s vocabulary, in fp32 and trainable."""
    torch = require("torch", "torch")
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    config.vocab_size = len(student_tokenizer)
    config.bos_token_id = student_tokenizer.bos_token_id
    config.eos_token_id = student_tokenizer.eos_token_id
    config.pad_token_id = student_tokenizer.pad_token_id
    student = type(teacher)(config).to(torch.float32)
    state = {k: v.float() for k, v in teacher.state_dict().items() if "token_embedding" not in k}
    missing, unexpected = student.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "token_embedding" not in k]:
        raise RuntimeError(f"teacher and student layouts differ: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        student.get_input_embeddings().weight.copy_(init_embeddings(teacher, teacher_tokenizer, student_tokenizer))
    return student


def check_compatible(student: Any, teacher: Any, student_tokenizer: Any) -> None:
    """The student must produce states the teacher's UNet can read, from ids its vocabulary covers."""
    if student.config.hidden_size != teacher.config.hidden_size:
        raise ConfigError(f"student hidden size {student.config.hidden_size} differs from the teacher's "
                          f"{teacher.config.hidden_size}: the UNet could not read it")
    if len(student_tokenizer) > student.config.vocab_size:
        raise ConfigError(f"the tokenizer has {len(student_tokenizer)} tokens but the student model only "
                          f"{student.config.vocab_size} embeddings; use the model's own tokenizer")
