"""Score histograms as PNG files, one per score column, with the bars split by row status.

Splitting by status shows where a filter's threshold cut: rejected rows pile up on one side of it.
Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global state).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from kdata.atomic import atomic_path

HIST_DIR = "hist"
BINS = 30
COLOURS = {"ok": "#3b7d4f", "rejected": "#c9822b", "failed": "#b33a3a"}


def histogram_bins(by_status: dict[str, list[np.ndarray]]) -> dict[str, list[float]] | None:
    """The same bins as the PNG, as data the page draws as clickable bars (None when there are no values)."""
    parts = [part for parts in by_status.values() for part in parts]
    if not parts:
        return None
    values = np.concatenate(parts)
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
    counts, _ = np.histogram(values, bins=edges)
    # Edges rounded as the cards show scores; the page filters with the same rounded values.
    return {"edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


def write_histogram(column: str, by_status: dict[str, list[np.ndarray]], root: Path) -> str | None:
    """Draw ``column``'s histogram; None when the column has no values at all."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = list(COLOURS)
    ranked = sorted(by_status.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))
    groups = {status: np.concatenate(parts) for status, parts in ranked if parts}
    if not groups:
        return None
    values = np.concatenate(list(groups.values()))
    low, high = float(values.min()), float(values.max())
    bins = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
    figure = Figure(figsize=(4.2, 2.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.hist(
        list(groups.values()),
        bins=bins,
        stacked=True,
        label=[f"{s} ({len(v)})" for s, v in groups.items()],
        color=[COLOURS.get(s, "#777777") for s in groups],
    )
    axes.set_title(column, fontsize=10)
    axes.set_ylabel("rows", fontsize=8)
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=7, frameon=False)
    figure.tight_layout()
    name = f"{HIST_DIR}/{re.sub(r'[^A-Za-z0-9_.-]', '_', column)}.png"
    with atomic_path(root / name) as tmp:
        figure.savefig(tmp, format="png")
    return name
