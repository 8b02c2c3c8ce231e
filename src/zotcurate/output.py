"""Output helpers: terminal and Markdown tables, JSON/CSV rows and progress (rich stays behind this module).

Data goes to stdout; progress and notices go to stderr so ``--format json`` stays clean.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, title: str | None = None,
                 width: int | None = None) -> str:
    """A plain-text table (no colour codes), for terminals and tests alike."""
    table = Table(title=title, show_lines=False, box=box.SIMPLE_HEAD)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console = Console(file=io.StringIO(), width=width or 120, color_system=None, force_terminal=False)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Sequence[str] = ()) -> list[str]:
    """A GitHub-flavoured Markdown table, one string per line; ``right``: the columns aligned right.

    Cells must be Markdown already (escape text with ``zotcurate.writers.markdown.escape``);
    None is an empty cell, and a line break would end the row, so it becomes a space.
    """
    def line(cells: Iterable[Any]) -> str:
        return "| " + " | ".join("" if c is None else str(c).replace("\n", " ") for c in cells) + " |"

    return [line(columns), "|" + "|".join("---:" if c in right else "---" for c in columns) + "|",
            *(line(row) for row in rows)]


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n"


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    return buf.getvalue()


class ProgressReporter:
    """What long-running library code calls to report progress; silent by default."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def describe(self, description: str) -> None: ...

    def notice(self, message: str) -> None: ...

    def stop(self) -> None: ...


class RichProgress(ProgressReporter):
    """A rich progress bar on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=True,
        )
        self.task: Any = None

    def start(self, description: str, total: int | None) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(description, total=total)
        else:
            self.progress.update(self.task, description=description, total=total, completed=0)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def describe(self, description: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=description)

    def notice(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None


class NoticeOnly(ProgressReporter):
    """No bar (not a terminal), but notices such as "waiting 30 s" still reach stderr."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo

    def notice(self, message: str) -> None:
        self.echo(message)


@contextmanager
def progress_for(interactive: bool, echo: Callable[[str], None], quiet: bool = False, *,
                 color: bool = True) -> Iterator[ProgressReporter]:
    """A bar when ``interactive`` (stderr is a terminal, as the caller's environment says),
    notices only otherwise, nothing when ``quiet``."""
    reporter: ProgressReporter
    if quiet:
        reporter = ProgressReporter()
    elif interactive:
        reporter = RichProgress(Console(stderr=True, force_terminal=True, no_color=not color))
    else:
        reporter = NoticeOnly(echo)
    try:
        yield reporter
    finally:
        reporter.stop()
