"""What every caption backend shares: candidates with provenance, per-row inputs, failure isolation.

A backend turns a list of rows into, for each row, zero or more :class:`Candidate` captions. A candidate
says where it came from (``source``: model / translation / template / alt_text), which model or template
made it, and the hash of the prompt or template, so every caption in a dataset can be traced back.

Model backends run in batches. When a batch raises, it is split and retried down to single rows, so one
input a model cannot handle costs that row its candidate (recorded with the error) and nothing else.
"""

from __future__ import annotations

import hashlib
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from kdata.blobs import read_image_bytes
from kdata.errors import ManifestError
from kdata.imageio import MAX_IMAGE_PIXELS
from kdata.registry import Registry

T = TypeVar("T")
R = TypeVar("R")
_MAX_ERROR_CHARS = 160


class Source:
    """Values of ``caption_<lang>_source``."""

    MODEL = "model"
    TRANSLATION = "translation"
    TEMPLATE = "template"
    ALT_TEXT = "alt_text"
    FAILED = "failed"  # no backend gave a caption and at least one failed on the row


@dataclass
class Candidate:
    """One caption candidate, or one backend's failure on one row (``text`` None, ``error`` set)."""

    text: str | None
    source: str
    model: str | None
    prompt_hash: str | None = None
    backend: str = ""  # which entry of the chain made it, e.g. "ko[1]:alt_text"
    error: str | None = None
    score: float | None = None

    @property
    def ok(self) -> bool:
        return bool(self.text) and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class ImageUnavailable(Exception):
    """A row whose image bytes are missing or cannot be decoded; image backends record it on the row."""


@dataclass
class RowItem:
    """One manifest row as backends see it: the row's values, its image on demand, source texts."""

    row: dict[str, Any]
    blob_dirs: Sequence[Path] = ()
    source_texts: dict[str, str] = field(default_factory=dict)  # language -> caption to translate from
    _image: Any = None
    _image_error: str | None = None

    def image(self) -> Any:
        """The row's image as RGB PIL, decoded once; raises :class:`ImageUnavailable`."""
        if self._image is None and self._image_error is None:
            self._decode()
        if self._image_error is not None:
            raise ImageUnavailable(self._image_error)
        return self._image

    def _decode(self) -> None:
        from PIL import Image

        try:
            data = read_image_bytes(self.row, self.blob_dirs)
        except (ManifestError, OSError):
            self._image_error = "image_unavailable"
            return
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        try:
            with Image.open(io.BytesIO(data)) as img:
                self._image = img.convert("RGB")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # Pillow's bad-data errors
            self._image_error = f"undecodable:{type(exc).__name__}"


class Backend(ABC):
    """A caption backend. ``load`` (heavy: models) runs once per worker; ``run`` maps rows to candidates."""

    source: ClassVar[str]
    config_cls: ClassVar[type]

    def __init__(self, config: Any, language: str, label: str) -> None:
        self.config = config
        self.language = language
        self.label = label  # "ko[2]:translate", used in provenance and stats

    def required_columns(self) -> list[str]:
        """Manifest columns this backend reads; checked before the run starts."""
        return []

    def check_environment(self) -> None:  # noqa: B027 - an optional override point
        """Check what this machine must provide (an API key in the environment), before the run starts;
        raise :class:`~kdata.errors.ConfigError` with a one-line fix."""

    def load(self) -> None:  # noqa: B027 - an optional override point
        """Load models; called once per worker before any batch."""

    @abstractmethod
    def run(self, items: list[RowItem]) -> list[list[Candidate]]:
        """For each item, its candidates (empty when the backend does not apply to the row)."""

    def candidate(self, text: str | None, model: str | None = None, prompt_hash: str | None = None) -> Candidate:
        return Candidate(text, self.source, model, prompt_hash, backend=self.label)

    def failure(self, error: str, model: str | None = None) -> Candidate:
        return Candidate(None, self.source, model, backend=self.label, error=error)


BACKENDS: Registry[type[Backend]] = Registry("caption backend")


def short_hash(text: str) -> str:
    """12 hex digits of sha256: enough to tell prompts and templates apart, short enough for a column."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def describe_error(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return message if len(message) <= _MAX_ERROR_CHARS else message[: _MAX_ERROR_CHARS - 3] + "..."


@dataclass
class Failed:
    """The result slot of an input that failed on its own."""

    error: str


def run_isolated(fn: Callable[[list[T]], list[R]], items: list[T]) -> list[R | Failed]:
    """``fn(items)``; if it raises, retry each half, down to single items, which then record the error.

    A model can fail on one input in ways no fixed list of exception types covers (a shape error, a
    tokenizer edge case, an out-of-memory on one huge image), so every exception is caught here, in this
    one place, and turned into data on the row instead of ending the run.
    """
    if not items:
        return []
    try:
        results = fn(items)
    except Exception as exc:  # noqa: BLE001 - see the docstring: failures become per-row data
        if len(items) == 1:
            return [Failed(describe_error(exc))]
        middle = len(items) // 2
        return run_isolated(fn, items[:middle]) + run_isolated(fn, items[middle:])
    if len(results) != len(items):
        raise RuntimeError(f"backend returned {len(results)} results for {len(items)} inputs")
    return list(results)


def chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), max(1, size))]
