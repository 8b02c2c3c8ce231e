"""Every command and every long option is documented in README.md or docs/*.md, as
sqlite-utils' tests/test_docs.py does for its CLI: a new option cannot go unmentioned."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from zotcurate.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS = "\n".join(path.read_text(encoding="utf-8") for path in PAGES)


def commands(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    """Every command under ``group``, by its full name ("profile show")."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        full = f"{prefix}{name}"
        yield full, command
        if isinstance(command, click.Group):
            yield from commands(command, prefix=f"{full} ")


def long_options(command: click.Command) -> Iterator[str]:
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in [*param.opts, *param.secondary_opts]:
                if opt.startswith("--") and opt != "--help":
                    yield opt


COMMANDS = sorted(commands())
OPTIONS = sorted({(name, opt) for name, command in [("", cli), *COMMANDS] for opt in long_options(command)})


def test_the_tree_is_walked() -> None:
    # The walk itself must see the whole command line, or the tests below prove nothing.
    names = [name for name, _ in COMMANDS]
    assert {"sync", "check", "links", "render", "audit", "profile show", "config show"} <= set(names)
    assert ("links", "--tag-broken") in OPTIONS and ("", "--store") in OPTIONS


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_command_is_documented(name: str) -> None:
    assert re.search(rf"zotcurate {re.escape(name)}\b", DOCS), f"'zotcurate {name}' is in neither README.md nor docs/"


@pytest.mark.parametrize(("command", "option"), OPTIONS)
def test_every_long_option_is_documented(command: str, option: str) -> None:
    where = f"zotcurate {command}".strip()
    assert re.search(rf"{re.escape(option)}(?![\w-])", DOCS), (
        f"{option} (of '{where}') is in neither README.md nor docs/")


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_command_has_help(name: str) -> None:
    command = dict(COMMANDS)[name]
    assert (command.help or "").strip(), f"'zotcurate {name}' has no help text"
