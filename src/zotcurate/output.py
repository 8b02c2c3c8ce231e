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
from rich.cells import cell_len
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


PAGE_WIDTH = 160  # tables printed without a width: a wide page (the CLI passes the terminal's width)
ELLIPSIS = "…"
MIN_SHORTENED = 12  # a shortened column keeps at least this many cells of its text


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, title: str | None = None,
                 width: int | None = None, shorten: Sequence[str] = (), drop: Sequence[str] = ()) -> str:
    """A plain-text table (no colour codes) that fits ``width``, for terminals and tests alike.

    Narrow columns give way first to what breaks well: text wraps at spaces, the cells of the
    ``shorten`` columns (prose such as titles) are cut at a word end with an ellipsis, and an
    unbreakable word (a library name, a key, a date) is split only when nothing else is left.
    Before that, the ``drop`` columns are left out, in that order, and a last line says which.
    Machine formats (JSON, CSV) never go through here: they keep the full text. Cells are text,
    never rich markup ("[bold]" in a title stays as typed), and printable (see :func:`printable`).
    """
    width = width or PAGE_WIDTH
    columns = list(columns)
    cells = [["" if row.get(c) is None else printable(str(row.get(c)), layout=True) for c in columns] for row in rows]
    left_out: list[str] = []
    for col in drop:
        if col not in columns or _fits(columns, cells, width, shorten):
            break
        index = columns.index(col)
        columns.pop(index)
        for row_cells in cells:
            row_cells.pop(index)
        left_out.append(col)
    widths = plan_widths(columns, cells, width, shorten=shorten)
    table = Table(title=Text(printable(title)) if title else None, show_lines=False, box=box.SIMPLE_HEAD)
    for col, col_width in zip(columns, widths, strict=True):
        table.add_column(Text(printable(col)), overflow="fold", width=col_width, no_wrap=col in shorten)
    for row_cells in cells:
        table.add_row(*(Text(shorten_text(cell, w) if col in shorten else cell)
                        for col, cell, w in zip(columns, row_cells, widths, strict=True)))
    console = Console(file=io.StringIO(), width=max(width, sum(widths) + table_overhead(len(columns))),
                      color_system=None, force_terminal=False)
    console.print(table)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    if left_out:
        text += f"(Left out at this width: {', '.join(left_out)}.)\n"
    return text


def _fits(columns: Sequence[str], cells: Sequence[Sequence[str]], width: int, shorten: Sequence[str]) -> bool:
    """Whether every column fits at its floor (see :func:`plan_widths`)."""
    _, floor, _ = _measure(columns, cells, shorten)
    return sum(floor) + table_overhead(len(columns)) <= width


def table_overhead(n_columns: int) -> int:
    """Cells a table adds around its columns' text: one space of padding on each side of every
    column, a separator between columns and an edge on each side."""
    return 3 * n_columns + 1 if n_columns else 0


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def plan_widths(columns: Sequence[str], cells: Sequence[Sequence[str]], width: int, *,
                shorten: Sequence[str] = ()) -> list[int]:
    """The text width of each column so that the table fits ``width`` where it can.

    Each column starts at its natural width (its longest line). While the table is too wide,
    the widest column gives up one cell, down to a floor: its longest word, so that no word is
    split (for a ``shorten`` column: a few words). If the floors are too wide, words inside
    prose give way next (a line with spaces), down to a few cells, before a line that is one
    word (a name, key, link or path) does; and last everything, down to 4 cells. No column's
    floor takes more than two thirds of the page.
    """
    natural, floor, solid = _measure(columns, cells, shorten)
    widths = list(natural)
    room = width - table_overhead(len(columns))
    cap = max(2 * room // 3, 4)  # one very long word does not take the whole page
    last = [min(4, n) for n in natural]
    for limits in ([min(f, cap) for f in floor], [min(f, cap) for f in solid], last):
        while sum(widths) > room:
            shrinkable = [i for i in range(len(widths)) if widths[i] > limits[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
    return widths


def _measure(columns: Sequence[str], cells: Sequence[Sequence[str]],
             shorten: Sequence[str]) -> tuple[list[int], list[int], list[int]]:
    """Each column's natural width (its longest line, header included), its floor (its longest
    word) and its solid floor (its longest one-word line, or a few cells of prose)."""
    natural, floor, solid = [], [], []
    for i, col in enumerate(columns):
        lines = [line for row in cells for line in row[i].splitlines()] + [col]
        natural.append(max(cell_len(line) for line in lines))
        if col in shorten:
            floor.append(min(natural[-1], max(_longest_word(col), MIN_SHORTENED)))
            solid.append(floor[-1])
            continue
        floor.append(max(_longest_word(line) for line in lines))
        one_word = max((cell_len(line.strip()) for line in lines if line.strip() and " " not in line.strip()),
                       default=0)
        solid.append(max(one_word, min(floor[-1], MIN_SHORTENED)))
    return natural, floor, solid


def shorten_text(text: str, width: int) -> str:
    """Each line of ``text`` cut to ``width`` cells at the end of a word, with an ellipsis;
    a first word longer than ``width`` is itself cut."""
    return "\n".join(_shorten_line(line, width) for line in text.splitlines() or [""])


def _shorten_line(line: str, width: int) -> str:
    if cell_len(line) <= width:
        return line
    room = width - cell_len(ELLIPSIS)
    kept = ""
    for word in line.split():
        candidate = f"{kept} {word}" if kept else word
        if cell_len(candidate) > room:
            break
        kept = candidate
    if not kept:  # one long word: cut it inside, as nothing else fits
        kept = line
        while kept and cell_len(kept) > room:
            kept = kept[:-1]
    return kept.rstrip(" ,;:.-–—") + ELLIPSIS


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and the noun agreeing with it: "1 library", "2 libraries", "0 items"."""
    if count == 1:
        return f"{count} {singular}"
    if plural_form is None:
        if singular.endswith("y") and singular[-2:-1] not in tuple("aeiou"):
            plural_form = singular[:-1] + "ies"
        elif singular.endswith(("s", "x", "ch", "sh")):
            plural_form = singular + "es"
        else:
            plural_form = singular + "s"
    return f"{count} {plural_form}"


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
