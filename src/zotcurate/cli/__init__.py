"""The ``zotcurate`` command line: parse options, call the library, print.

The group, its context and :func:`main` live in :mod:`zotcurate.cli.app`; the commands
live in one small module per area (``library`` for sync/import/export/status, ``check``,
``links``, ``render``, ``audit``), which import from ``app`` and never from here. This
module puts them together: the only place that knows every command.
"""

from __future__ import annotations

from zotcurate.cli import audit, check, library, links, render
from zotcurate.cli.app import AppContext, cli, entry_point, main, pass_app
from zotcurate.cli.environment import Environment

for _module in (library, check, links, render, audit):
    for _command in _module.COMMANDS:
        cli.add_command(_command)

__all__ = ["AppContext", "Environment", "cli", "entry_point", "main", "pass_app"]
