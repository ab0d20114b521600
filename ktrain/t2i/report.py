"""The evaluation's reports: per-pipeline means and medians, the ratios that matter, an image grid per prompt.

``report.md`` (readable on GitHub: the images are relative links) and ``report.html`` (one page, no
scripts) say the same: the models used and what was left out (a Korean-only prompt set has no English CLIP
score: "–"), a table of every latency stage and both CLIP scores per pipeline, the Korean-encoder
pipeline's latency against the translation baseline's, and each prompt's images side by side with their
timings and scores (and, for ``enriched``, the corpus prompt appended with its score). Prompt texts, ids
and model names come from files a user may not have written: ``report.md`` shows them through
:mod:`kdata.markup`, ``report.html`` through ``html.escape``, and image links only as relative paths
inside ``OUT``.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdata.atomic import write_text_atomic
from kdata.markup import html_url, md_code, md_image, md_text, one_line

METRICS = ("translate_s", "search_s", "text_encode_s", "text_stage_s", "denoise_s", "decode_s", "total_s", "clip_en",
           "clip_ko")


def summarize(rows: list[dict[str, Any]], pipelines: list[str]) -> list[dict[str, Any]]:
    """One dict per pipeline: ``n`` and ``<metric>_mean`` / ``<metric>_median`` for every metric."""
    summary = []
    for name in pipelines:
        mine = [row for row in rows if row["pipeline"] == name]
        entry: dict[str, Any] = {"pipeline": name, "n": len(mine)}
        for metric in METRICS:
            values = [float(row[metric]) for row in mine if row.get(metric) is not None]
            entry[f"{metric}_mean"] = round(statistics.fmean(values), 6) if values else None
            entry[f"{metric}_median"] = round(statistics.median(values), 6) if values else None
        summary.append(entry)
    return summary


def ratios(summary: list[dict[str, Any]]) -> dict[str, float]:
    """translate / ko-encoder medians for the text stage and the whole image (above 1: the encoder is faster)."""
    by_name = {entry["pipeline"]: entry for entry in summary}
    if "ko-encoder" not in by_name or "translate" not in by_name:
        return {}
    ko, tr = by_name["ko-encoder"], by_name["translate"]
    result = {}
    for metric in ("text_stage_s", "total_s"):
        if ko[f"{metric}_median"]:
            result[f"{metric}_translate_over_ko_encoder"] = round(tr[f"{metric}_median"] / ko[f"{metric}_median"], 3)
    return result


RATIO_LABELS = {"text_stage_s_translate_over_ko_encoder": "translate / ko-encoder, text stage (translation + encoding)",
                "total_s_translate_over_ko_encoder": "translate / ko-encoder, whole image"}


def _fmt(value: Any, metric: str) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.1f} ms" if metric.endswith("_s") else f"{value:.2f}"


def _settings_line(config: dict[str, Any], show: Callable[[Any], str]) -> str:
    """The generation settings in one line, each model name through ``show`` (Markdown code or escaped HTML)."""
    return (f"base {show(config['base'])}, text encoder {show(config['text_encoder'] or '(the base’s own)')}, "
            f"translator {show(config['translator'])}, English CLIP {show(config['english_clip'] or '(not scored)')}, "
            f"Korean CLIP {show(config['korean_clip'] or '(not scored)')}; {int(config['steps'])} steps, guidance "
            f"{float(config['guidance']):g}, seed {int(config['seed'])} + prompt index"
            + (f"; prompt index {show(config['prompt_index'])}" if config.get("prompt_index") else ""))


def _clip_text(row: dict[str, Any]) -> str:
    return f"CLIP en {_fmt(row['clip_en'], 'clip_en')} / ko {_fmt(row['clip_ko'], 'clip_ko')}"


def _neighbour_md(row: dict[str, Any]) -> str:
    """enriched's neighbour under its image: the corpus prompt appended and its score (nothing elsewhere)."""
    if not row.get("neighbour_en"):
        return ""
    return f"<br>nearest ({float(row['neighbour_score']):.3f}): {md_text(row['neighbour_en'])}"


def _neighbour_html(row: dict[str, Any]) -> str:
    if not row.get("neighbour_en"):
        return ""
    return (f"<div class='nearest'>nearest ({float(row['neighbour_score']):.3f}): "
            f"{_html_text(row['neighbour_en'])}</div>")


def _html_text(value: Any) -> str:
    return html.escape(one_line(value))


def markdown(config: dict[str, Any], summary: list[dict[str, Any]], rows: list[dict[str, Any]],
             pipelines: list[str]) -> str:
    lines = ["# Korean prompts: text-to-image pipelines compared", "", _settings_line(config, md_code), "",
             *(f"- {md_text(note)}" for note in config.get("notes", [])), *([""] if config.get("notes") else []),
             "| pipeline | n | " + " | ".join(f"{m} mean / median" for m in METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for entry in summary:
        cells = [f"{_fmt(entry[f'{m}_mean'], m)} / {_fmt(entry[f'{m}_median'], m)}" for m in METRICS]
        lines.append(f"| {md_text(entry['pipeline'])} | {entry['n']} | " + " | ".join(cells) + " |")
    for key, value in ratios(summary).items():
        lines += ["", f"- {RATIO_LABELS[key]}: **{value}x** (medians)"]
    lines += ["", "## Images", "", "| prompt | " + " | ".join(md_text(p) for p in pipelines) + " |",
              "|---|" + "---|" * len(pipelines)]
    for prompt_id in dict.fromkeys(row["prompt_id"] for row in rows):
        mine = {row["pipeline"]: row for row in rows if row["prompt_id"] == prompt_id}
        first = next(iter(mine.values()))
        cells = [f"{md_image(name, mine[name]['image'])}<br>{_fmt(mine[name]['total_s'], 'total_s')}, "
                 f"{_clip_text(mine[name])}{_neighbour_md(mine[name])}" for name in pipelines]
        english = f"<br>{md_text(first['prompt_en'])}" if first["prompt_en"] else ""
        label = f"**{md_text(prompt_id)}**<br>{md_text(first['prompt_ko'])}{english}"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_STYLE = """body{font-family:'Noto Sans KR','NanumGothic',sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.grid td{width:180px}.grid img{width:160px;height:160px;image-rendering:pixelated;display:block}
.used{color:#666;font-size:12px;overflow-wrap:anywhere}.nearest{color:#1f3b5a;font-size:12px;overflow-wrap:anywhere}"""


def page(config: dict[str, Any], summary: list[dict[str, Any]], rows: list[dict[str, Any]],
         pipelines: list[str]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(m)}<br>mean / median</th>" for m in METRICS)
    body = ""
    for entry in summary:
        cells = "".join(f"<td class='num'>{_fmt(entry[f'{m}_mean'], m)} / {_fmt(entry[f'{m}_median'], m)}</td>"
                        for m in METRICS)
        body += f"<tr><td>{esc(entry['pipeline'])}</td><td class='num'>{entry['n']}</td>{cells}</tr>"
    ratio_items = "".join(f"<li>{esc(RATIO_LABELS[k])}: <b>{v}x</b> (medians)</li>"
                          for k, v in ratios(summary).items())
    grid_head = "".join(f"<th>{esc(name)}</th>" for name in pipelines)
    grid = ""
    for prompt_id in dict.fromkeys(row["prompt_id"] for row in rows):
        mine = {row["pipeline"]: row for row in rows if row["prompt_id"] == prompt_id}
        first = next(iter(mine.values()))
        english = f"<br>{esc(first['prompt_en'])}" if first["prompt_en"] else ""
        grid += (f"<tr data-prompt='{esc(prompt_id)}'><td><b>{esc(prompt_id)}</b><br>{esc(first['prompt_ko'])}"
                 f"{english}</td>")
        for name in pipelines:
            row = mine[name]
            src = html_url(row["image"])
            picture = f"<img src='{src}' alt='{esc(name)}'>" if src else ""
            grid += (f"<td>{picture}<div class='used'>"
                     f"{esc(row['prompt_used'])}</div>{_neighbour_html(row)}{_fmt(row['total_s'], 'total_s')} · "
                     f"{_clip_text(row)}</td>")
        grid += "</tr>"
    settings = _settings_line(config, _html_text)
    notes = "".join(f"<li>{_html_text(note)}</li>" for note in config.get("notes", []))
    return (f"<!doctype html><html lang='ko'><head><meta charset='utf-8'><title>kcli eval t2i</title>"
            f"<style>{_STYLE}</style></head><body><h1>Korean prompts: text-to-image pipelines compared</h1>"
            f"<p>{settings}</p><ul id='notes'>{notes}</ul>"
            f"<table id='summary'><tr><th>pipeline</th><th>n</th>{head}</tr>{body}</table>"
            f"<ul id='ratios'>{ratio_items}</ul><h2>Images</h2><table class='grid'><tr><th>prompt</th>{grid_head}"
            f"</tr>{grid}</table></body></html>\n")


def write_reports(out: Path, config: dict[str, Any], summary: list[dict[str, Any]], rows: list[dict[str, Any]],
                  pipelines: list[str]) -> tuple[Path, Path]:
    md, page_path = out / "report.md", out / "report.html"
    write_text_atomic(md, markdown(config, summary, rows, pipelines))
    write_text_atomic(page_path, page(config, summary, rows, pipelines))
    return md, page_path
