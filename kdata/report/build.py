"""``kcli report``: a static HTML page to browse a manifest (thumbnails, facets, sorting, histograms).

Output folder::

    OUT/index.html      the page; the grid's rows are embedded as JSON and drawn by report.js
    OUT/report.css, OUT/report.js
    OUT/thumbs/*.jpg    one small JPEG per grid row
    OUT/hist/*.png      one histogram per score column
    OUT/report.json     what the page was made from (manifest fingerprint, rows shown)

Open ``index.html`` directly, or serve it with ``kcli view``. Re-running reuses existing thumbnails.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kdata import __version__
from kdata.atomic import write_json_atomic, write_text_atomic
from kdata.errors import ManifestError
from kdata.manifest import Manifest, open_manifest
from kdata.outputs import check_out_vs_inputs, claim_output
from kdata.progress import ProgressCallback
from kdata.publish.summary import funnel
from kdata.report.collect import Collected, collect
from kdata.report.histograms import histogram_bins, write_histogram
from kdata.report.thumbs import LARGE_DIR, LARGE_SIZE, THUMB_DIR, write_thumbnail
from kdata.schema import IMAGE

TEMPLATES = Path(__file__).parent / "templates"
ASSETS = ("report.css", "report.js")
RECORD = "report.json"
DEFAULT_LIMIT = 5000  # grid rows; beyond this the page samples (the browser stays responsive)


@dataclass
class ReportResult:
    path: Path
    index: Path
    rows: int
    shown: int
    histograms: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "index": str(self.index)}


def write_report(
    manifest_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    limit: int = DEFAULT_LIMIT,
    progress: ProgressCallback | None = None,
) -> ReportResult:
    """Write the report for ``manifest_path`` into ``out`` (created; refused if it holds other files)."""
    manifest = open_manifest(manifest_path)
    if manifest.kind.name != IMAGE.name:
        raise ManifestError(f"{manifest.path} is a {manifest.kind.name} manifest; the report shows image manifests")
    root = Path(out).resolve()
    _check_out(root, manifest)
    root.mkdir(parents=True, exist_ok=True)

    def thumbnails(collected: Collected) -> None:
        for item, data in collected.pending:
            # No bytes, no picture: an earlier run's thumbnail of a row that cannot be read now is not reused.
            item["thumb"] = write_thumbnail(data, root, item["key"]) if data is not None else None
            if item["thumb"]:
                item["large"] = write_thumbnail(data, root, item["key"], LARGE_SIZE, LARGE_DIR)

    collected = collect(manifest, limit, thumbnails, progress)
    histograms = [
        {"column": column, "file": name}
        for column, by_status in collected.scores.items()
        if (name := write_histogram(column, by_status, root)) is not None
    ]
    for asset in ASSETS:
        shutil.copyfile(TEMPLATES / asset, root / asset)
    _remove_stale_thumbs(root, {item["thumb"] for item in collected.items if item["thumb"]}, THUMB_DIR)
    _remove_stale_thumbs(root, {item["large"] for item in collected.items if item["large"]}, LARGE_DIR)
    write_text_atomic(root / "index.html", _render(manifest, collected, histograms))
    record = {"manifest": str(manifest.path), "fingerprint": manifest.fingerprint, "rows": manifest.num_rows,
              "shown": len(collected.items), "kcli_version": __version__}  # fmt: skip
    write_json_atomic(root / RECORD, record)
    return ReportResult(root, root / "index.html", manifest.num_rows, len(collected.items),
                        [h["file"] for h in histograms])  # fmt: skip


def _render(manifest: Manifest, collected: Collected, histograms: list[dict[str, str]]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True)
    # tojson still escapes <, >, & and ' (safe inside <script>); Hangul stays readable and half the size.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    lineage = [
        {**step, "config_json": json.dumps(step.get("config"), ensure_ascii=False, indent=2, default=str)}
        for step in manifest.lineage_chain
    ]
    data = {
        "items": collected.items,
        "facets": collected.facets,
        "sort_columns": collected.sort_columns,
        "card_numbers": list(collected.scores),  # scores on each card; geometry only sorts
        "hist_bins": {c: bins for c, by_status in collected.scores.items() if (bins := histogram_bins(by_status))},
    }
    return env.get_template("report.html").render(
        title=manifest.path.name,
        kind=manifest.kind.name,
        rows=manifest.num_rows,
        shown=len(collected.items),
        fingerprint=manifest.fingerprint,
        kcli_version=__version__,
        funnel=funnel(manifest),
        histograms=histograms,
        lineage=lineage,
        data=data,
    )


def _check_out(root: Path, manifest: Manifest) -> None:
    """Claim ``root`` for the report: new, empty or an earlier report (marked by :mod:`kdata.outputs`, since
    re-running deletes stale thumbnails in it), and never the manifest or around it."""
    check_out_vs_inputs(root, [manifest.path, *manifest.blob_dirs])
    if root.exists() and not root.is_dir():
        raise ManifestError(f"--out {root} is a file; give a folder for the report")
    if not claim_output(root, "report"):
        raise ManifestError(f"--out {root} holds other files; give an empty or new folder (or an earlier report's)")


def _remove_stale_thumbs(root: Path, wanted: set[str], name: str) -> None:
    """Thumbnails of rows an earlier report showed and this one does not."""
    folder = root / name
    if folder.exists():
        for path in folder.glob("*.jpg"):
            if f"{name}/{path.name}" not in wanted:
                path.unlink()
