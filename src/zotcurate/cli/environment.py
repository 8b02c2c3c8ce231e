"""What the command line reads from the process it runs in, as one value.

Like httpie's ``Environment``: the environment variables and the terminal facts
(is stdout or stderr a terminal, how wide, colour or not) are read once, by
:meth:`Environment.detect`, and handed to every command through the app context, so a
test sets ``Environment(stdout_isatty=True, columns=200)`` instead of patching ``sys``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

PAGE_WIDTH = 160  # the width of tables printed to a file or a pipe
MIN_TERMINAL_WIDTH = 100  # narrower terminals fold the columns rather than squeeze them


def _isatty(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stream is no terminal
        return False


@dataclass(frozen=True)
class Environment:
    """Environment variables and terminal facts, as plain values."""

    variables: Mapping[str, str] = field(default_factory=dict)
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    columns: int = PAGE_WIDTH  # the terminal's width, when there is one
    color: bool = False  # colour on stderr (progress bars)

    @classmethod
    def detect(cls, variables: Mapping[str, str] | None = None) -> Environment:
        """The facts of this process (``variables`` default to ``os.environ``)."""
        variables = dict(os.environ if variables is None else variables)
        stderr_tty = _isatty(sys.stderr)
        return cls(
            variables=variables,
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=stderr_tty,
            columns=shutil.get_terminal_size((PAGE_WIDTH, 24)).columns,
            # The NO_COLOR convention (no-color.org) and dumb terminals, as rich itself reads them.
            color=stderr_tty and "NO_COLOR" not in variables and variables.get("TERM") != "dumb",
        )

    @property
    def page_width(self) -> int:
        """Width for tables on stdout: the terminal's (at least 100), else a wide fixed page."""
        if self.stdout_isatty:
            return max(MIN_TERMINAL_WIDTH, self.columns)
        return PAGE_WIDTH
