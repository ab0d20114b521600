"""Data shipped inside kdata: the sample images and site, the prompt set, the sample corpus, and the filter
and caption configs that ``kcli demo`` and the docs use.

The files are package data, found through ``importlib.resources``, so an installed kcli reads them from
any working folder. A source checkout also has ``manifests/``, a link to this folder, for command lines
that name the files. Layout: ``samples/images/`` (JPEGs with sidecar JSON), ``samples/site/`` (the pages
the crawl demo serves), ``prompts/``, ``corpus/``, ``filters/``, ``caption/``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePosixPath

from kdata.errors import KcliError

__all__ = ["BundledDataError", "bundled_name", "bundled_path"]


class BundledDataError(KcliError):
    """Bundled data that cannot be read from a folder: a name that is not there, or kdata imported from an
    archive (a zip) instead of a folder."""


def bundled_path(relative: str) -> Path:
    """The bundled file or folder ``relative`` (``"samples/images"``) as a real path on this machine."""
    root = files(__name__)
    # A regular package in a folder gives a pathlib path; an archive gives a Traversable other code cannot open.
    if not isinstance(root, Path):
        raise BundledDataError(f"{__name__} is imported from {root}, not from a folder; its data needs a "
                               "folder: install kcli with pip into an environment instead of a zip")
    resource = root.joinpath(*_parts(relative))
    if not resource.exists():
        raise BundledDataError(f"bundled data {relative!r} is missing from {root}: this kcli install lacks its "
                               "package data; reinstall it with pip")
    return resource


def bundled_name(relative: str) -> str:
    """A name for bundled data that is the same in every install (for lineage): ``kdata.bundled:samples/images``."""
    return f"{__name__}:{PurePosixPath(*_parts(relative))}"


def _parts(relative: str) -> tuple[str, ...]:
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or ".." in path.parts:
        raise BundledDataError(f"{relative!r} is not a relative name under {__name__} (such as 'samples/images')")
    return path.parts
