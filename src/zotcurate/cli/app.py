"""The ``zotcurate`` group, the context every command gets, and :func:`main`.

:func:`main` is the one place where a command's outcome becomes an exit status: a
command returns an :class:`ExitCode` (or nothing, for OK), and an error is raised as its
typed :class:`ZotcurateError`, whose class carries the code. Command modules import
from here; ``zotcurate.cli`` adds them to :data:`cli`, so nothing here imports them.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import click

from zotcurate.cli.environment import Environment
from zotcurate.cli.options import library_option
from zotcurate.config import Settings, load_settings
from zotcurate.errors import ExitCode, NotFoundError, StoreError, ZotcurateError
from zotcurate.model import LibraryRef
from zotcurate.output import ProgressReporter, progress_for
from zotcurate.store import Store


@dataclass
class AppContext:
    """What every command gets: the options of the group, the environment, the output."""

    environment: Environment = field(default_factory=Environment)
    store_option: str | None = None
    library_option: str | None = None
    api_url_option: str | None = None
    config_option: str | None = None
    quiet: bool = False
    secrets: list[str] = field(default_factory=list)  # redacted from every message

    @property
    def env(self) -> Mapping[str, str]:
        """The environment variables."""
        return self.environment.variables

    def settings(self, *, library: str | None = None, api_url: str | None = None) -> Settings:
        settings = load_settings(
            env=self.env,
            library=library or self.library_option,
            store=self.store_option,
            api_url=api_url or self.api_url_option,
            config_path=self.config_option,
        )
        if settings.api_key:
            self.secrets.append(settings.api_key)
        return settings

    def open_store(self, settings: Settings, *, create: bool = False, read_only: bool = False) -> Store:
        """The store. Only commands that fill it (sync, import, audit) ``create`` it: the others
        say that there is none yet and how to make one (exit 5), and those that only read it
        open it ``read_only``, so that SQLite itself keeps it as it was."""
        if not create and not settings.store_path.is_file():
            raise NotFoundError(no_store_message(settings.store_path))
        return Store(settings.store_path, read_only=read_only)

    def library(self, settings: Settings, store: Store | None = None) -> LibraryRef:
        """The library a command works on: the one set (option, environment, config file), else
        the only library of the store (``store``, or the store file read for it), as git uses
        the only remote; a notice on stderr says so."""
        if settings.library is not None:
            return settings.library
        stored = [lib.name for lib in store.libraries()] if store is not None else stored_libraries(settings.store_path)
        ref = settings.require_library(stored)
        self.notice(f"Using {ref.name}: no library is set, and it is the only one in the store.")
        return ref

    def notice(self, message: str) -> None:
        """A line for the user on stderr (stdout stays the command's data); none with --quiet."""
        if not self.quiet:
            click.echo(self.redact(message), err=True)

    def progress(self) -> AbstractContextManager[ProgressReporter]:
        """A progress bar on a terminal; notices only (on stderr) otherwise; nothing with --quiet."""
        return progress_for(self.interactive, lambda message: click.echo(self.redact(message), err=True), self.quiet,
                            color=self.environment.color)

    @property
    def interactive(self) -> bool:
        """Progress bars only on a terminal, and never with --quiet."""
        return not self.quiet and self.environment.stderr_isatty

    @property
    def page_width(self) -> int:
        """The width for tables on stdout."""
        return self.environment.page_width

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "********")
        return text


def no_store_message(path: Path) -> str:
    """What a command that needs the store says when there is none yet."""
    return (f"There is no store at {path} yet: run 'zotcurate init' then 'zotcurate sync' to copy a Zotero "
            "library, or 'zotcurate import FOLDER' to import an export (or point --store at your store).")


def stored_libraries(path: Path) -> list[str]:
    """The names of the libraries in the store file at ``path``, read-only; none when there is no
    store or it cannot be read here (the command that opens it says why)."""
    if not path.is_file():
        return []
    try:
        with Store(path, read_only=True) as store:
            return [lib.name for lib in store.libraries()]
    except StoreError:
        return []


pass_app = click.make_pass_decorator(AppContext)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="zotcurate")
@click.option("--store", "store", metavar="PATH",
              help="The SQLite store file [env ZOTCURATE_STORE; default: the platform's data folder].")
@library_option("for every command")
@click.option("--api-url", metavar="URL",
              help="Zotero API base URL, for self-hosted or test servers [env ZOTCURATE_API_URL].")
@click.option("--config", "config", metavar="FILE",
              help="Config file [env ZOTCURATE_CONFIG; default: the platform's config folder].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or waiting notices.")
@click.pass_context
def cli(ctx: click.Context, store: str | None, library: str | None, api_url: str | None,
        config: str | None, quiet: bool) -> None:
    """Curate a Zotero group library and publish annotated bibliographies from it.

    \b
    Typical session:
      zotcurate init                       # once: API key and group
      zotcurate sync                       # incremental copy into the local store
      zotcurate check --fail-on error      # metadata completeness
      zotcurate links --max-age 30d        # link audit
      zotcurate render bibliography.toml   # Word + Markdown

    Everything but sync and write-back works offline from the store.
    Exit codes: 0 ok, 1 findings, 2 usage, 3 configuration, 4 access refused,
    5 not found, 6 network, 7 bad input file, 8 write conflict, 9 store, 10 locked,
    130 interrupted.
    """
    if ctx.obj is None:  # invoked without main(), e.g. by click's test runner
        ctx.obj = AppContext(Environment.detect())
    app: AppContext = ctx.obj
    app.store_option = store or app.store_option
    app.library_option = library or app.library_option
    app.api_url_option = api_url or app.api_url_option
    app.config_option = config or app.config_option
    app.quiet = quiet or app.quiet


def findings(found: bool) -> ExitCode:
    """What a command that looked for problems returns: FINDINGS (1) if it found some."""
    return ExitCode.FINDINGS if found else ExitCode.OK


def exit_status(outcome: object) -> ExitCode:
    """A command's return value (an ExitCode, or None for OK) as the process's exit status.

    click itself hands back a plain int for ``--help`` and ``--version`` (its ``Exit``).
    """
    if outcome is None:
        return ExitCode.OK
    if isinstance(outcome, int) and not isinstance(outcome, bool):
        return ExitCode(outcome)
    raise TypeError(f"a zotcurate command returned {outcome!r}: commands return an ExitCode or None")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, *,
         environment: Environment | None = None) -> ExitCode:
    """Run the CLI; turn every zotcurate error into one sentence and its exit code.

    ``env`` is the environment variables (default: the process's); ``environment`` the
    terminal facts (default: detected), e.g. ``Environment(stdout_isatty=True)`` in tests.
    """
    if environment is None:
        environment = Environment.detect(env)
    elif env is not None:
        environment = dataclasses.replace(environment, variables=dict(env))
    app = AppContext(environment)
    try:
        outcome = cli.main(args=list(argv) if argv is not None else None, obj=app,
                           standalone_mode=False, prog_name="zotcurate")
    except ZotcurateError as exc:
        click.echo(f"Error: {app.redact(exc.message)}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        click.echo("Interrupted: what was finished is kept; run the same command again to go on.", err=True)
        return ExitCode.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE  # click's own errors are about the command line
    except click.exceptions.Exit as exc:
        return exit_status(exc.exit_code)
    return exit_status(outcome)


def entry_point() -> None:  # pragma: no cover - the console script
    sys.exit(int(main()))
