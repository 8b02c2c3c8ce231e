"""Options that several commands share, declared once so that name, short flag,
metavar and help read the same everywhere (as sqlite-utils' ``output_options``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

LIBRARY_KINDS = "group:ID, user:ID, local or file:NAME"


def library_option(action: str, *, kinds: str = LIBRARY_KINDS,
                   default: str = "the configured one, else the store's only library",
                   metavar: str = "LIB") -> Callable[[F], F]:
    """``--library/-l LIB``: "The library {action}: {kinds} [default: {default}]."."""
    return click.option("--library", "-l", "library", metavar=metavar,
                        help=f"The library {action}: {kinds} [default: {default}].")


def collection_option(*, multiple: bool = True,
                      help: str = "Only this collection (key or path) and its sub-collections") -> Callable[[F], F]:
    """``--collection/-c PATH``, repeatable unless ``multiple`` is off (the value is then
    passed as ``collection``, else as ``collections``)."""
    return click.option("--collection", "-c", "collections" if multiple else "collection", multiple=multiple,
                        metavar="PATH", help=help + ("; repeatable." if multiple else "."))


def format_option(choices: Sequence[str] | None, *, default: str | None = None, metavar: str | None = None,
                  help: str = "How to print the result.") -> Callable[[F], F]:
    """``--format``, passed as ``fmt``: one of ``choices`` (the first is the default), or
    with ``choices=None`` free text that the command checks itself."""
    if choices is None:
        return click.option("--format", "fmt", metavar=metavar, help=help)
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=default or choices[0],
                        show_default=True, metavar=metavar, help=help)


def apply_option(what: str) -> Callable[[F], F]:
    """``--apply``, passed as ``apply_``: without it write-back is only planned and printed."""
    return click.option("--apply", "apply_", is_flag=True,
                        help=f"Write {what} to Zotero (without it: only print the plan).")
