"""The kohya layout (sd-scripts, OneTrainer): an image beside a same-stem ``.txt`` caption, in ``N_concept`` folders.

kohya's DreamBooth-style datasets put each concept in a folder named ``<repeats>_<concept>`` (``10_hanbok``:
every image seen 10 times an epoch); its caption is ``<stem>.txt`` (or ``<stem>.caption``, the other
extension sd-scripts reads) beside the image. Import keeps the repeats and concept as columns; export
writes the same layout, flat or inside one ``<repeats>_<concept>`` folder.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from kdata.atomic import atomic_path, write_text_atomic

CAPTION_EXTENSIONS = (".txt", ".caption")
REPEATS_FOLDER = re.compile(r"^(\d+)_(.+)$")
MAX_CAPTION_BYTES = 1 << 16


def read_caption(image: Path) -> str | None:
    """The caption file beside ``image`` (``.txt`` first), or None when it has none."""
    for ext in CAPTION_EXTENSIONS:
        candidate = image.with_suffix(ext)
        if candidate.is_file() and candidate.stat().st_size <= MAX_CAPTION_BYTES:
            return candidate.read_text(encoding="utf-8", errors="replace").strip()
    return None


def concept_of(rel: str) -> tuple[int | None, str | None]:
    """``(repeats, concept)`` from the first ``N_concept`` folder of a relative path, else ``(None, None)``."""
    for part in PurePosixPath(rel).parts[:-1]:
        match = REPEATS_FOLDER.match(part)
        if match:
            return int(match.group(1)), match.group(2)
    return None, None


def looks_like_kohya(root: Path, images: list[str]) -> bool:
    """Whether a folder of images has same-stem caption files for some of them."""
    return any(read_caption(root / rel) is not None for rel in images[:200])


def kohya_folder(repeats: int | None, concept: str | None) -> str:
    """The sub-folder export writes into: ``<repeats>_<concept>`` when a concept is named, else the root."""
    if concept is None:
        return ""
    if "/" in concept or concept.startswith("."):
        raise ValueError(f"concept {concept!r} must be a plain folder name")
    return f"{repeats or 1}_{concept}"


def safe_stem(key: str) -> str:
    """A manifest key as one file name: path separators and dots become ``_`` (no sub-folders, no hidden names)."""
    stem = re.sub(r"[\\/]+", "__", key).replace(".", "_")
    return stem or "_"


def write_pair(folder: Path, stem: str, ext: str, data: bytes, caption: str) -> list[str]:
    """Write ``stem.ext`` and ``stem.txt`` atomically; return their names."""
    image_name, caption_name = f"{stem}{ext}", f"{stem}.txt"
    with atomic_path(folder / image_name) as tmp:
        tmp.write_bytes(data)
    write_text_atomic(folder / caption_name, caption)
    return [image_name, caption_name]


def kohya_row(root: Path, rel: str, key: str) -> dict[str, Any]:
    """The staged row of one image of a kohya folder (its bytes are read by the import stage)."""
    repeats, concept = concept_of(rel)
    return {"key": key, "file_name": rel, "_file": str(root / rel), "_offset": 0, "_size": -1,
            "_caption": read_caption(root / rel), "kohya_repeats": repeats, "kohya_concept": concept}
