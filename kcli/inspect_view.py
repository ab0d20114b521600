"""Show an :func:`kdata.inspect.inspect_manifest` summary as rich tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from kcli.output import console

VALUES_SHOWN = 8  # most frequent values of a categorical column in the table (--json has them all)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


HEAD_CELL = 40  # characters of a value shown in the --head table


def render_inspect(summary: dict[str, Any]) -> None:
    console.print(_title(summary))
    for note in summary.get("missing_for_stages", []):
        console.print(f"[yellow]note:[/] {note}")
    if summary["lineage"]:
        console.print(_lineage_table(summary["lineage"]))
    if summary["funnel"]:
        console.print(_funnel_table(summary["funnel"], summary["rows"]))
    console.print(_columns_table(summary))
    if summary.get("head"):
        console.print(_head_table(summary["head"]))
    for row in summary["samples"]:
        shown = {k: v for k, v in row.items() if v is not None}
        console.print(shown, soft_wrap=True)


def _title(summary: dict[str, Any]) -> str:
    size = f"{summary['rows']:,} rows · {summary['shards']} {'shards' if summary['fingerprint'] else 'files'}"
    if summary["fingerprint"] is None:
        return f"[bold]{summary['path']}[/]  plain Parquet (not a kcli manifest) · {size}"
    return (f"[bold]{summary['path']}[/]  {summary['kind']} manifest · {size} · "
            f"schema v{summary['schema_version']} · {summary['fingerprint'][:12]}")


def _head_table(rows: list[dict[str, Any]]) -> Table:
    """The first rows as columns (one line per manifest column): a manifest is wider than it is tall here."""
    table = Table(title=f"first {len(rows)} rows")
    table.add_column("column")
    for index in range(len(rows)):
        table.add_column(str(index), max_width=HEAD_CELL)
    for name in rows[0]:
        table.add_row(name, *(_cell(row[name]) for row in rows))
    return table


def _cell(value: Any) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= HEAD_CELL else text[: HEAD_CELL - 1] + "…"


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
        # A struct column (a Hub export's image) is summarised field by field, as ``name.field``.
        parts = {n: s for n, s in summary["columns"].items() if n == name or n.startswith(name + ".")}
        if not parts:
            table.add_row(name, type_name, "-", "")
        for part, stats in parts.items():
            shown_type = type_name if part == name else "  ." + part[len(name) + 1:]
            table.add_row(part, shown_type, _fmt(stats["nulls"]), _describe(stats))
    return table


def _describe(stats: dict[str, Any] | None) -> str:
    if not stats:
        return ""
    if stats["type"] == "numeric":
        median = _fmt(stats["median"]) + ("" if stats["median_exact"] else "~")
        return f"min {_fmt(stats['min'])} · median {median} · max {_fmt(stats['max'])}"
    if stats.get("role") == "identifier":
        return f"{_fmt(stats['count'])} set (identifier: keys, URLs, paths, digests)"
    if stats["type"] == "text":
        length = stats["length"]
        text = f"len {_fmt(length['min'])}/{_fmt(length['mean'])}/{_fmt(length['max'])}"
        if "values" in stats:
            shown = ", ".join(f"{v['value']} {v['rows']:,}" for v in stats["values"][:VALUES_SHOWN])
            more = len(stats["values"]) - VALUES_SHOWN
            return shown + (f", … {more:,} more" if more > 0 else "") + ("" if stats["values_complete"] else " (top)")
        script = ", ".join(f"{k} {v:,}" for k, v in stats.get("script", {}).items() if v)
        return f"{text} · {script}" if script else text
    return f"{_fmt(stats['total_bytes'])} bytes"
