"""Show an :func:`kdata.inspect.inspect_manifest` summary as rich tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from kcli.output import console


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_inspect(summary: dict[str, Any]) -> None:
    console.print(
        f"[bold]{summary['path']}[/]  {summary['kind']} manifest · {summary['rows']:,} rows · "
        f"{summary['shards']} shards · schema v{summary['schema_version']} · {summary['fingerprint'][:12]}"
    )
    console.print(_lineage_table(summary["lineage"]))
    console.print(_funnel_table(summary["funnel"], summary["rows"]))
    console.print(_columns_table(summary))
    for row in summary["samples"]:
        shown = {k: v for k, v in row.items() if v is not None}
        console.print(shown, soft_wrap=True)


def _lineage_table(chain: list[dict[str, Any]]) -> Table:
    table = Table(title="lineage (newest first)")
    for name in ("stage", "created", "kcli", "parent fingerprint"):
        table.add_column(name)
    for step in chain:
        parent = (step.get("parent_fingerprint") or "-")[:12]
        table.add_row(step["stage"], step.get("created", "-"), step.get("kcli_version", "-"), parent)
    return table


def _funnel_table(funnel: list[dict[str, Any]], total: int) -> Table:
    table = Table(title="status / reason funnel")
    table.add_column("status")
    table.add_column("reason")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    for entry in funnel:
        share = entry["rows"] / total if total else 0.0
        table.add_row(entry["status"], entry["reason"] or "-", f"{entry['rows']:,}", f"{share:.1%}")
    return table


def _columns_table(summary: dict[str, Any]) -> Table:
    table = Table(title="columns")
    for name in ("column", "type", "nulls", "summary"):
        table.add_column(name)
    types = {f["name"]: f["type"] for f in summary["schema"]}
    for name, type_name in types.items():
        stats = summary["columns"].get(name)
        table.add_row(name, type_name, _fmt(stats["nulls"]) if stats else "-", _describe(stats))
    return table


def _describe(stats: dict[str, Any] | None) -> str:
    if not stats:
        return ""
    if stats["type"] == "numeric":
        median = _fmt(stats["median"]) + ("" if stats["median_exact"] else "~")
        return f"min {_fmt(stats['min'])} · median {median} · max {_fmt(stats['max'])}"
    if stats["type"] == "text":
        length = stats["length"]
        script = ", ".join(f"{k} {v:,}" for k, v in stats["script"].items() if v)
        return f"len {_fmt(length['min'])}/{_fmt(length['mean'])}/{_fmt(length['max'])} · {script}"
    return f"{_fmt(stats['total_bytes'])} bytes"
