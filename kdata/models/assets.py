"""Model files that no library downloads by itself, pinned by sha256: what ``kcli models fetch`` gets.

CLIP checkpoints come through open_clip and ``from_pretrained``; the filter's score heads are single
files a config points at (``[aesthetic] weights = PATH``). Each one is listed here with where it is
published and the sha256 of the published file, so a download is checked against a value fixed in code
rather than against whatever a server sends. A download goes to a temporary file beside the target and is
renamed into place only once its hash matches; a mismatch leaves nothing behind. A file that is already
there and matches is left alone, so running the command again is free, and a file put there by hand
(where this machine cannot download) is verified the same way.

Sources are tried in order; one that cannot be reached is skipped, but a source that answers with other
bytes stops the fetch: a pin that no longer matches is something to look at, not to route around.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kdata.atomic import atomic_path
from kdata.deps import require
from kdata.errors import KcliError
from kdata.models.home import kcli_home
from kdata.registry import Registry

CHUNK_BYTES = 1 << 20
HTTP_RETRIES = 3  # per URL: connection errors and 429/5xx answers, with backoff
_OFF_VALUES = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face Hub model repo, fetched with ``hf_hub_download`` (honours ``HF_ENDPOINT``)."""

    repo_id: str
    filename: str
    revision: str = "main"

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}/resolve/{self.revision}/{quote(self.filename)}"


@dataclass(frozen=True)
class UrlFile:
    """A file at a plain HTTP(S) URL, fetched with urllib3."""

    url: str


@dataclass(frozen=True)
class DownloadableAsset:
    name: str
    filename: str  # the name it is saved under
    sha256: str  # of the published file
    size: int  # bytes; a download larger than this is stopped
    sources: tuple[UrlFile | HubFile, ...]  # tried in order
    section: str  # the config setting that takes the file's path: [section] key = PATH
    key: str
    description: str
    homepage: str
    license: str

    @property
    def setting(self) -> str:
        return f"[{self.section}] {self.key}"


ASSETS: Registry[DownloadableAsset] = Registry("downloadable asset")

# LAION's improved aesthetic predictor for CLIP ViT-L/14, the head behind the LAION-Aesthetics v2 subsets
# (github.com/christophschuhmann/improved-aesthetic-predictor; the README there names this file). The
# sha256 and size were computed from the file as committed at 6934dd8 (its last commit); the GitHub URL
# is pinned to that commit. The Hub copy is birder-project's mirror, published with the same sha256.
ASSETS.add("laion-aesthetic-vit-l-14", DownloadableAsset(
    name="laion-aesthetic-vit-l-14",
    filename="sac+logos+ava1-l14-linearMSE.pth",
    sha256="21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0",
    size=3_714_759,
    sources=(
        UrlFile("https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/"
                "6934dd81792f086e613a121dbce43082cb8be85e/sac%2Blogos%2Bava1-l14-linearMSE.pth"),
        HubFile("birder-project/aesthetic-predictor", "openai-clip_aesthetic-predictor.pt"),
    ),
    section="aesthetic",
    key="weights",
    description="LAION improved aesthetic predictor (MLP over CLIP ViT-L/14 image embeddings, 1-10 scale)",
    homepage="https://github.com/christophschuhmann/improved-aesthetic-predictor",
    license="Apache-2.0",
))


@dataclass
class FetchResult:
    name: str
    path: Path
    sha256: str
    size: int
    setting: str  # "[aesthetic] weights"
    source: str | None  # where it was downloaded from; None when it was already there
    license: str

    @property
    def setting_line(self) -> str:
        return f'{self.setting} = "{self.path}"'

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256, "size": self.size,
                "downloaded": self.source is not None, "source": self.source, "setting": self.setting_line,
                "license": self.license}


def default_assets_dir() -> Path:
    return kcli_home() / "assets"


def fetch_asset(name: str, to: str | Path | None = None) -> FetchResult:
    """Download ``name`` into ``to`` (default ``<kcli home>/assets``) unless a verified copy is there."""
    asset = ASSETS.get(name)
    folder = Path(to).expanduser().resolve() if to is not None else default_assets_dir()
    target = folder / asset.filename
    if target.exists() and not target.is_file():
        raise KcliError(f"{target} exists and is not a file; move it away and run the command again")
    if target.exists():
        got = file_sha256(target)
        if got != asset.sha256:
            raise KcliError(f"{target} exists but its sha256 is {got}, not {asset.name}'s {asset.sha256}; "
                            "move it away and run the command again")
        return _result(asset, target, None)
    if downloads_off():
        raise KcliError(f"downloads are off (HF_HUB_OFFLINE=1): {by_hand(asset, folder)}")
    unreachable = []
    for source in asset.sources:
        try:
            _download(asset, source, target)
        except SourceUnavailable as exc:
            unreachable.append(f"{source.url}: {exc}")
            continue
        return _result(asset, target, source.url)
    raise KcliError(f"could not download {asset.name} ({'; '.join(unreachable)}); {by_hand(asset, folder)}")


def by_hand(asset: DownloadableAsset, folder: Path) -> str:
    """What to do where kcli cannot download: the file, its first source, its checksum, where to put it."""
    return (f"download {asset.filename} by hand from {asset.sources[0].url} (sha256 {asset.sha256}) into "
            f"{folder}, then run `kcli models fetch {asset.name} --to {folder}` to verify it")


def downloads_off() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFF_VALUES


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class SourceUnavailable(Exception):
    """A source could not be reached or did not have the file; the next one is tried."""


def _result(asset: DownloadableAsset, target: Path, source: str | None) -> FetchResult:
    return FetchResult(asset.name, target, asset.sha256, target.stat().st_size, asset.setting, source, asset.license)


def _download(asset: DownloadableAsset, source: UrlFile | HubFile, target: Path) -> None:
    """Fetch into a temporary sibling of ``target``; rename it into place only when its sha256 matches."""
    with atomic_path(target) as tmp:
        if isinstance(source, HubFile):
            _from_hub(source, tmp)
        else:
            _from_url(source.url, tmp, asset.size)
        got, size = file_sha256(tmp), tmp.stat().st_size
        if got != asset.sha256 or size != asset.size:
            raise KcliError(f"{source.url} sent a file with sha256 {got} ({size:,} bytes), not the expected "
                            f"{asset.sha256} ({asset.size:,} bytes); nothing was saved")


def _from_url(url: str, tmp: Path, limit: int) -> None:
    urllib3 = require("urllib3", "urllib3")
    retries = urllib3.Retry(total=HTTP_RETRIES, redirect=5, backoff_factor=0.5,
                            status_forcelist=(429, 500, 502, 503, 504), raise_on_status=False)
    http = urllib3.PoolManager(retries=retries, timeout=urllib3.Timeout(connect=10.0, read=60.0),
                               headers={"User-Agent": "kcli (models fetch)"})
    try:
        response = http.request("GET", url, preload_content=False)
    except urllib3.exceptions.HTTPError as exc:
        raise SourceUnavailable(_first_line(exc)) from None
    try:
        if response.status != 200:
            raise SourceUnavailable(f"HTTP {response.status}")
        written = 0
        with open(tmp, "wb") as out:
            for chunk in response.stream(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:  # a wrong file: stop before it fills the disk
                    raise KcliError(f"{url} sent more than the expected {limit:,} bytes; nothing was saved")
                out.write(chunk)
    except urllib3.exceptions.HTTPError as exc:
        raise SourceUnavailable(_first_line(exc)) from None
    finally:
        response.release_conn()


def _from_hub(source: HubFile, tmp: Path) -> None:
    hub = require("huggingface_hub", "huggingface_hub")
    hub_errors = require("huggingface_hub.errors", "huggingface_hub")
    # HfHubHTTPError's first base is its HTTP client's error class, the base of that client's connection and
    # timeout errors, which are not OSErrors; Hub "not found" and offline errors are.
    errors = (OSError, ValueError, hub_errors.HfHubHTTPError.__mro__[1])
    scratch = tmp.with_name(tmp.name + ".hub")
    try:
        path = hub.hf_hub_download(source.repo_id, source.filename, revision=source.revision, local_dir=scratch)
        os.replace(path, tmp)
    except errors as exc:
        raise SourceUnavailable(_first_line(exc)) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
