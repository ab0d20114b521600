"""Terminal rendering for the CLI only (rich tables, progress bars, JSON). Library code never imports this."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Machine output goes to stdout as plain JSON (no colour codes), one document."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_error(message: str) -> None:
    # Escaped: a message may hold brackets that are not markup (pip install 'kcli[ray]', a path).
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


@contextmanager
def shard_progress(description: str, enabled: bool = True) -> Iterator[Any]:
    """A progress bar driven by the runner's :class:`kdata.runner.Progress` events."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("shards · {task.fields[rows]} rows"),
        TimeElapsedColumn(),
    )
    # Drawn from the first event on, so an error raised before any work starts (a bad option, a missing
    # optional dependency) stays a one-line message instead of following an empty bar.
    bar = Progress(*columns, console=err_console, transient=False)
    task = bar.add_task(description, total=None, rows=0)

    def update(event: Any) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, total=event.shards_total, completed=event.shards_done, rows=event.rows_done)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


def stats_table(stats: Mapping[str, int], title: str = "stats") -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("counter")
    table.add_column("rows", justify="right")
    for key, value in sorted(stats.items(), key=lambda kv: (kv[0] not in ("total", "kept"), kv[0])):
        table.add_row(key, f"{value:,}")
    return table


def key_value_table(rows: Mapping[str, Any], title: str | None = None) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(str(key), str(value))
    return table


@contextmanager
def step_progress(description: str, enabled: bool = True) -> Iterator[Any]:
    """A progress bar over named steps, driven by ``on_step(name, index, total)``."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[step]}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console) as bar:
        task = bar.add_task(description, total=None, step="")

        def update(name: str, index: int, total: int) -> None:
            bar.update(task, total=total, completed=index, step=name)

        yield update


def rows_table(headers: Sequence[str], rows: Iterable[Sequence[str]], title: str | None = None) -> Table:
    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


@contextmanager
def phase_progress(enabled: bool = True) -> Iterator[Any]:
    """One bar per phase of a long run (caching, training, generating), driven by events with ``phase``,
    ``done``, ``total`` and an optional ``loss``; the training bar shows the latest loss."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console) as bar:
        tasks: dict[str, Any] = {}

        def update(event: Any) -> None:
            if event.phase not in tasks:
                tasks[event.phase] = bar.add_task(event.phase, total=event.total, loss="")
            loss = f"loss {event.loss:.4f}" if getattr(event, "loss", None) is not None else ""
            bar.update(tasks[event.phase], completed=event.done, total=event.total, loss=loss)

        yield update
