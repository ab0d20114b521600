"""Terminal output for the command line: one way to show a result (tables, or ``--json``) and one progress view.

Library code never imports this module: it returns results with ``to_dict()`` and reports progress through
:class:`kdata.progress.ProgressEvent`; here they become JSON, rich tables and bars.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from kdata.progress import ProgressCallback, ProgressEvent

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


@cache
def _consoles() -> tuple[Console, Console]:
    from rich.console import Console

    return Console(), Console(stderr=True)


def __getattr__(name: str) -> Any:
    """``console`` (stdout) and ``err_console`` (stderr), made on first use: rich is a tenth of a ``--json``
    command's start-up, and JSON output never draws with it."""
    if name == "console":
        return _consoles()[0]
    if name == "err_console":
        return _consoles()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def as_data(result: Any) -> Any:
    """A result as plain data: its ``to_dict()``, element-wise for lists, or the value itself."""
    if isinstance(result, list):
        return [as_data(item) for item in result]
    return result.to_dict() if hasattr(result, "to_dict") else result


def emit(result: Any, as_json: bool, show: Callable[[Any], None] | None = None, title: str | None = None) -> None:
    """Print ``result`` as one JSON document (``--json``) or for a person: ``show(result)``, else key/value tables."""
    if as_json:
        print_json(as_data(result))
    elif show is not None:
        show(result)
    else:
        show_mapping(as_data(result), title)


def print_json(data: Any) -> None:
    """Machine output goes to stdout as plain JSON (no colour codes), one document."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_error(message: str) -> None:
    from rich.markup import escape

    # Escaped: a message may hold brackets that are not markup (an extra such as 'kcli[ray]', a path).
    _consoles()[1].print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def show_mapping(payload: Mapping[str, Any], title: str | None = None) -> None:
    """Top-level scalars in one table, then one table per nested mapping."""
    flat = {k: v for k, v in payload.items() if not isinstance(v, Mapping)}
    console = _consoles()[0]
    console.print(key_value_table(flat, title=title))
    for key, value in payload.items():
        if isinstance(value, Mapping):
            console.print(key_value_table(value, title=key))


def show_run(result: Any) -> None:
    """A data stage's result (:class:`kdata.runner.RunResult`): its stats, and whether it resumed."""
    console = _consoles()[0]
    console.print(stats_table(result.stats, title=f"{result.manifest.path}"))
    if result.shards_skipped:
        console.print(f"resumed: {result.shards_skipped} shard(s) were already done")


def stats_table(stats: Mapping[str, int], title: str = "stats") -> Table:
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("counter")
    table.add_column("rows", justify="right")
    for key, value in sorted(stats.items(), key=lambda kv: (kv[0] not in ("total", "kept"), kv[0])):
        table.add_row(key, f"{value:,}")
    return table


def key_value_table(rows: Mapping[str, Any], title: str | None = None) -> Table:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(str(key), str(value))
    return table


def rows_table(headers: Sequence[str], rows: Iterable[Sequence[str]], title: str | None = None) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def event_text(event: ProgressEvent) -> str:
    """What is shown beside a bar: rows written, the latest loss, the detail."""
    parts = [f"{event.rows:,} rows"] if event.rows is not None else []
    if event.loss is not None:
        parts.append(f"loss {event.loss:.4f}")
    if event.detail:
        parts.append(event.detail)
    return " · ".join(parts)


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """Yield a callback that draws one bar per ``phase`` of the :class:`ProgressEvent` values it receives.

    The bars appear with the first event, so an error raised before any work starts (a bad option, a
    missing optional dependency) stays a one-line message instead of following an empty bar.
    """
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
               TextColumn("{task.fields[text]}"), TimeElapsedColumn())
    bars = Progress(*columns, console=_consoles()[1])
    tasks: dict[str, Any] = {}

    def update(event: ProgressEvent) -> None:
        if not bars.live.is_started:
            bars.start()
        if event.phase not in tasks:
            tasks[event.phase] = bars.add_task(event.phase, total=event.total, unit="", text="")
        bars.update(tasks[event.phase], completed=event.done, total=event.total, unit=event.unit,
                    text=event_text(event))

    try:
        yield update
    finally:
        if bars.live.is_started:
            bars.stop()
