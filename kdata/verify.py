"""``kcli verify``: decode every image of a manifest and check it against its recorded facts.

Useful after copying a manifest or receiving one from elsewhere: each row's bytes are read (inline or
from the blob store), fully decoded, hashed, and measured. A row whose bytes are missing, undecodable
or do not match their ``sha256`` is marked ``failed`` with the reason; the rest stay ``ok`` with
``width``/``height``/``format`` filled from the decoded image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from kdata.blobs import read_image_bytes, unreadable_reason
from kdata.errors import ManifestError
from kdata.imageio import MAX_IMAGE_PIXELS, ImageDecodeError, probe_image
from kdata.manifest import open_manifest
from kdata.runner import RunOptions, RunResult, Stage, manifest_sources, run_stage
from kdata.schema import Status


@dataclass
class VerifyConfig:
    max_pixels: int = MAX_IMAGE_PIXELS
    check_sha256: bool = True


class VerifyStage(Stage):
    name = "verify"

    def process(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        for row in rows:
            self._verify_row(row)
        return pa.Table.from_pylist(rows, schema=_updated_schema(batch.schema))

    def _verify_row(self, row: dict) -> None:
        config: VerifyConfig = self.config
        try:
            data = read_image_bytes(row, self.context.blob_dirs)
            info = probe_image(data, config.max_pixels)
        except (ManifestError, OSError) as exc:
            row.update(status=Status.FAILED, reason=unreadable_reason(exc))
            return
        except ImageDecodeError as exc:
            row.update(status=Status.FAILED, reason=str(exc))
            return
        digest = hashlib.sha256(data).hexdigest()
        if config.check_sha256 and row.get("sha256") and row["sha256"] != digest:
            row.update(status=Status.FAILED, reason=f"sha256_mismatch:{row['sha256'][:12]}")
            return
        row.update(sha256=digest, width=info.width, height=info.height, format=info.format)


def _updated_schema(schema: pa.Schema) -> pa.Schema:
    return schema.remove_metadata()


def verify_manifest(manifest: str | Path, out: str | Path, options: RunOptions = RunOptions(),
                    config: VerifyConfig | None = None) -> RunResult:
    """Verify every row of ``manifest`` into ``out``; resumable."""
    parent = open_manifest(manifest)
    return run_stage(VerifyStage, config or VerifyConfig(), manifest_sources(parent), out, parent=parent,
                     options=options)
