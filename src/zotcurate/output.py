"""Output helpers: terminal and Markdown tables, JSON/CSV rows and progress (rich stays behind this module).

Data goes to stdout; progress and notices go to stderr so ``--format json`` stays clean.
Text that anyone in the group can edit (titles, collection names, URLs, server answers)
reaches the terminal only through :func:`printable`: an escape sequence in a title must not
set the window title, fill the clipboard (OSC 52) or clear the screen.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

# What a terminal may act on: C0 controls (ESC starts CSI/OSC sequences, BEL ends OSC), DEL,
# C1 controls (U+009B is a one-character CSI, U+009D an OSC), and the bidirectional overrides
# that reorder what is shown ("Trojan Source"). Tab and newline only where a layout wants them.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # json.dumps escapes C0 itself


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, layout: bool = False) -> str:
    """``text`` with every control character shown as an escape (ESC → ``\\x1b``), so that it
    prints as what it is and the terminal acts on none of it. With ``layout``, tab and newline
    are kept (multi-line messages, CSV, Markdown)."""
    return (_CONTROLS_BUT_LAYOUT if layout else _CONTROLS).sub(_visible, text)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, title: str | None = None,
                 width: int | None = None) -> str:
    """A plain-text table (no colour codes), for terminals and tests alike. Cells are text,
    never rich markup ("[bold]" in a title stays as typed), and printable (see :func:`printable`)."""
    table = Table(title=Text(printable(title)) if title else None, show_lines=False, box=box.SIMPLE_HEAD)
    for col in columns:
        table.add_column(Text(printable(col)), overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if row.get(c) is None else printable(str(row.get(c)), layout=True))
                        for c in columns))
    console = Console(file=io.StringIO(), width=width or 120, color_system=None, force_terminal=False)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Sequence[str] = ()) -> list[str]:
    """A GitHub-flavoured Markdown table, one string per line; ``right``: the columns aligned right.

    Cells must be Markdown already (escape text with ``zotcurate.writers.markdown.escape``);
    None is an empty cell, and a line break would end the row, so it becomes a space.
    """
    def line(cells: Iterable[Any]) -> str:
        return "| " + " | ".join("" if c is None else printable(str(c).replace("\n", " ")) for c in cells) + " |"

    return [line(columns), "|" + "|".join("---:" if c in right else "---" for c in columns) + "|",
            *(line(row) for row in rows)]


def to_json(value: Any) -> str:
    """Indented JSON. The encoder escapes C0 controls; C1 controls and bidi overrides are
    escaped too (``\\u009b``), so the JSON is the same data and safe on a terminal."""
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else _csv_cell(row.get(c)) for c in columns})
    return buf.getvalue()


def _csv_cell(value: Any) -> Any:
    return printable(value, layout=True) if isinstance(value, str) else value


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
        self.console.print(Text(printable(message, layout=True)), markup=False, highlight=False)

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None


class NoticeOnly(ProgressReporter):
    """No bar (not a terminal), but notices such as "waiting 30 s" still reach stderr."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo

    def notice(self, message: str) -> None:
        self.echo(printable(message, layout=True))


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
