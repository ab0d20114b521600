"""The filter report, for a person auditing thresholds: ``OUT/report/``.

- ``summary.json``: the run's counters, rows per status and reason, thresholds (percentile ones as
  resolved), and min/median/max of every score column.
- ``hist_<column>.png``: each score's distribution, kept and rejected rows stacked, with the rule
  thresholds drawn in (matplotlib's Agg canvas; no display needed).
- ``index.html`` with ``thumbs/``: a contact sheet with a few thumbnails per reason, each captioned
  with its key, reason and scores, so a wrong threshold shows as a wrong-looking picture.
"""

from __future__ import annotations

import html
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kdata.atomic import atomic_path, write_json_atomic, write_text_atomic
from kdata.blobs import read_image_bytes
from kdata.errors import ManifestError
from kdata.filter.config import FilterConfig
from kdata.manifest import Manifest
from kdata.runner.stats import reason_class
from kdata.schema import Status

REPORT_DIR = "report"
SCORE_COLUMNS = ("blur_variance", "luma_p05", "luma_p95", "entropy_bits", "colorfulness", "aspect_ratio",
                 "clip_score", "aesthetic_score", "nsfw_score")
# Which parameter of which filter is a threshold on which column (drawn on the histograms).
THRESHOLD_PARAMS = {"blur": ("blur_variance", "min_variance"), "too_dark": ("luma_p95", "max_p95"),
                    "too_light": ("luma_p05", "min_p05"), "low_information": ("entropy_bits", "min_bits"),
                    "grayscale": ("colorfulness", "max_colorfulness"), "aspect_ratio": ("aspect_ratio", "max"),
                    "clip_score": ("clip_score", "min"), "aesthetic_score": ("aesthetic_score", "min"),
                    "nsfw": ("nsfw_score", "max")}
THUMBS_PER_REASON = 24
THUMB_SIDE = 160


def write_report(manifest: Manifest, config: FilterConfig, stats: dict[str, int],
                 thresholds: dict[str, float], skipped_rules: list[dict[str, str]] | None = None) -> Path:
    out = Path(manifest.path) / REPORT_DIR
    names = set(manifest.schema().names)
    scores = [c for c in SCORE_COLUMNS if c in names]
    columns = ["key", "status", "reason", *scores]
    values: dict[str, list[Any]] = {c: [] for c in columns}
    for batch in manifest.iter_batches(columns):
        for column in columns:
            values[column].extend(batch.column(column).to_pylist())
    lines = rule_thresholds(config, thresholds)
    charts = [_histogram(out, column, values, lines.get(column, [])) for column in scores]
    summary = {
        "stats": stats,
        "rows": _reason_counts(values["status"], values["reason"]),
        "thresholds": {f"{rule}:{column}": value for column, items in lines.items() for rule, value in items},
        "scores": {c: _describe(values[c]) for c in scores},
        "histograms": [p.name for p in charts if p is not None],
        "skipped_rules": skipped_rules or [],
    }
    write_json_atomic(out / "summary.json", summary)
    picks = _pick_thumbnails(values)
    thumbs = _write_thumbnails(manifest, out / "thumbs", {k for keys in picks.values() for k in keys})
    write_text_atomic(out / "index.html", _contact_sheet(manifest, summary, picks, thumbs, values, scores))
    return out


def rule_thresholds(config: FilterConfig, resolved: dict[str, float]) -> dict[str, list[tuple[str, float]]]:
    """Column -> [(rule name, threshold)] for every rule with a threshold, percentiles as resolved."""
    lines: dict[str, list[tuple[str, float]]] = {}
    for rule in config.rules:
        column, param = THRESHOLD_PARAMS.get(rule.filter, (None, None))
        if column is None:
            continue
        value = resolved.get(rule.name, getattr(rule.params, param, None))
        if value is not None:
            lines.setdefault(column, []).append((rule.name, float(value)))
    return lines


def _reason_counts(status: list[str], reasons: list[str | None]) -> list[dict[str, Any]]:
    counts = Counter((s, reason_class(r) if s != Status.OK else "") for s, r in zip(status, reasons))
    return [{"status": s, "reason": r, "rows": n} for (s, r), n in sorted(counts.items(), key=lambda kv: -kv[1])]


def _describe(column: list[Any]) -> dict[str, float | int | None]:
    data = np.array([v for v in column if v is not None], dtype=np.float64)
    if not len(data):
        return {"count": 0, "min": None, "median": None, "max": None}
    return {"count": int(len(data)), "min": float(data.min()), "median": float(np.median(data)),
            "max": float(data.max())}


def _histogram(out: Path, column: str, values: dict[str, list[Any]],
               lines: list[tuple[str, float]]) -> Path | None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pairs = [(v, s) for v, s in zip(values[column], values["status"]) if v is not None]
    if not pairs:
        return None
    kept = np.array([v for v, s in pairs if s == Status.OK], dtype=np.float64)
    other = np.array([v for v, s in pairs if s != Status.OK], dtype=np.float64)
    figure = Figure(figsize=(6, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bins = np.histogram_bin_edges(np.concatenate([kept, other]), bins=30)
    axes.hist([kept, other], bins=bins, stacked=True, label=[f"kept ({len(kept)})", f"not kept ({len(other)})"],
              color=["#3a7d44", "#c8553d"])
    for name, value in lines:
        axes.axvline(value, color="black", linestyle="--", linewidth=1)
        axes.annotate(f"{name} {value:g}", (value, 0.95), xycoords=("data", "axes fraction"), fontsize=7,
                      rotation=90, va="top", ha="right")
    axes.set_xlabel(column)
    axes.set_ylabel("rows")
    axes.set_title(f"{column} (n={len(pairs)})")
    axes.legend(fontsize=8)
    figure.tight_layout()
    target = out / f"hist_{column}.png"
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png")
    return target


def _pick_thumbnails(values: dict[str, list[Any]]) -> dict[str, list[str]]:
    """Up to THUMBS_PER_REASON keys per reason class ("kept" for kept rows), first in manifest order."""
    picks: dict[str, list[str]] = {}
    for key, status, reason in zip(values["key"], values["status"], values["reason"]):
        group = "kept" if status == Status.OK else f"{status}: {reason_class(reason)}"
        chosen = picks.setdefault(group, [])
        if len(chosen) < THUMBS_PER_REASON:
            chosen.append(key)
    return dict(sorted(picks.items(), key=lambda kv: (kv[0] != "kept", kv[0])))


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:80] + ".jpg"


def _write_thumbnails(manifest: Manifest, folder: Path, keys: set[str]) -> dict[str, str]:
    """Thumbnails of ``keys`` (read with only the byte columns), as key -> file name under ``folder``."""
    names = set(manifest.schema().names)
    columns = ["key", *[c for c in ("image_bytes", "image_path") if c in names]]
    made: dict[str, str] = {}
    for batch in manifest.iter_batches(columns, batch_size=1024):
        for row in batch.to_pylist():
            if row["key"] not in keys:
                continue
            try:
                image = Image.open(io.BytesIO(read_image_bytes(row, manifest.blob_dirs)))
                image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
                image = image.convert("RGB")
                image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            except (ManifestError, OSError, ValueError, SyntaxError):
                continue  # undecodable rows get a caption without a picture
            name = _safe_name(row["key"])
            with atomic_path(folder / name) as tmp:
                image.save(tmp, format="JPEG", quality=80)
            made[row["key"]] = name
    return made


def _contact_sheet(manifest: Manifest, summary: dict[str, Any], picks: dict[str, list[str]],
                   thumbs: dict[str, str], values: dict[str, list[Any]], scores: list[str]) -> str:
    index = {key: i for i, key in enumerate(values["key"])}
    esc = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>kcli filter report</title><style>{_CSS}</style>",
             f"<h1>kcli filter report</h1><p>{esc(str(manifest.path))}: {len(values['key'])} rows</p><table>",
             "<tr><th>status</th><th>reason</th><th>rows</th></tr>"]
    parts += [f"<tr><td>{esc(r['status'])}</td><td>{esc(r['reason'])}</td><td>{r['rows']}</td></tr>"
              for r in summary["rows"]]
    parts.append("</table>")
    parts += [f"<p>skipped rule {esc(r['rule'])}: {esc(r['reason'])}</p>" for r in summary["skipped_rules"]]
    parts += [f"<img class='hist' src='{esc(name)}' alt='{esc(name)}'>" for name in summary["histograms"]]
    for group, keys in picks.items():
        parts.append(f"<h2>{esc(group)} <small>(showing {len(keys)})</small></h2><div class='sheet'>")
        for key in keys:
            row = index[key]
            lines = [esc(key), esc(values["reason"][row] or "")] + [
                f"{c} {values[c][row]:.3g}" for c in scores if values[c][row] is not None]
            picture = f"<img src='thumbs/{esc(thumbs[key])}'>" if key in thumbs else "<div class='none'>no image</div>"
            parts.append(f"<figure>{picture}<figcaption>{'<br>'.join(lines)}</figcaption></figure>")
        parts.append("</div>")
    return "\n".join(parts) + "\n"


_CSS = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 8px}.hist{max-width:480px;margin:4px}.sheet{display:flex;flex-wrap:wrap;gap:8px}"
        "figure{margin:0;width:170px;font-size:11px}figure img{max-width:160px;max-height:160px}"
        ".none{width:160px;height:100px;background:#eee}")
