"""``kcli publish``: export a manifest (``--to DIR``) and/or upload it to the Hub (``--repo-id``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kdata.fspath import is_remote, remote_output
from kdata.manifest import open_manifest
from kdata.models.home import kcli_home
from kdata.publish.config import PublishConfig
from kdata.publish.errors import PublishError
from kdata.publish.export import export_dataset
from kdata.publish.hub import check_hub_ready, upload_export
from kdata.runner import RunOptions


def staging_dir(repo_id: str) -> Path:
    """Where an upload's folder is built when no ``--to`` is given (kept, so a re-run resumes)."""
    return kcli_home() / "publish" / repo_id.replace("/", "--")


def check_publish(
    manifest: str | os.PathLike[str], config: PublishConfig, to: str | os.PathLike[str] | None, private: bool
) -> None:
    """Everything that can be refused before work starts: the destination, the manifest, the Hub."""
    if to is None and config.repo_id is None:
        raise PublishError("say where to publish: --repo-id ORG/NAME uploads to the Hub, --to DIR exports locally")
    if private and config.repo_id is None:
        raise PublishError("--private applies to a Hub upload; add --repo-id ORG/NAME")
    open_manifest(manifest)
    if config.repo_id is not None:
        check_hub_ready(config.repo_id)  # offline, no token, rejected token: before a long export


def publish_manifest(
    manifest: str | os.PathLike[str],
    config: PublishConfig,
    to: str | os.PathLike[str] | None = None,
    private: bool = False,
    options: RunOptions = RunOptions(),
) -> dict[str, Any]:
    """Export ``manifest``; upload the folder when ``config.repo_id`` is set. Returns what was done.

    Everything that can be refused is checked before the first progress event. Of ``options``, only
    ``overwrite`` and ``progress`` apply: the export is one sequential pass over the shards.
    """
    if to is not None and is_remote(to):  # exported locally, then uploaded with its record last (kdata.fspath)
        with remote_output(to, options.overwrite) as local:
            return publish_manifest(manifest, config, local, private, options)
    check_publish(manifest, config, to, private)
    folder = Path(to) if to is not None else staging_dir(str(config.repo_id))
    overwrite = options.overwrite or to is None
    result = export_dataset(manifest, folder, config, overwrite=overwrite, progress=options.progress)
    outcome: dict[str, Any] = {"export": result.to_dict()}
    if config.repo_id is not None:
        outcome["upload"] = upload_export(result.path, config.repo_id, private, result.fingerprint)
    return outcome
