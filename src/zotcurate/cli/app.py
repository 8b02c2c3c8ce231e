"""The ``zotcurate`` group, the context every command gets, and :func:`main`.

:func:`main` is the one place where a command's outcome becomes an exit status: a
command returns an :class:`ExitCode` (or nothing, for OK), and an error is raised as its
typed :class:`ZotcurateError`, whose class carries the code. Command modules import
from here; ``zotcurate.cli`` adds them to :data:`cli`, so nothing here imports them.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from zotcurate.cli.environment import Environment
from zotcurate.cli.options import library_option
from zotcurate.config import Settings, crash_report_dir, load_settings
from zotcurate.errors import ExitCode, NotFoundError, OutputError, StoreError, ZotcurateError
from zotcurate.fileio import WRITE_ERRNOS, output_error
from zotcurate.model import LibraryRef
from zotcurate.output import ProgressReporter, printable, progress_for
from zotcurate.store import Store, as_store_error

CRASH_REPORTS_KEPT = 20  # older internal-error reports are removed, so a nightly crash cannot fill the disk


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
    store_path: Path | None = None  # the store of the settings in force, to name in store errors

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
            self.secrets += [settings.api_key, settings.api_key.strip()]
        self.store_path = settings.store_path
        return settings

    def open_store(self, settings: Settings, *, create: bool = False, read_only: bool = False,
                   upgrade: bool = False) -> Store:
        """The store. Only commands that fill it (sync, import, audit) ``create`` it: the others
        say that there is none yet and how to make one (exit 5), and those that only read it
        open it ``read_only``, so that a read-only store file or folder still serves them and
        SQLite itself keeps the store as it was (a store from an older zotcurate is refused with
        the advice to run 'zotcurate status' once: ``upgrade`` opens it read-only too, but first
        brings an older store up to date where it can be written)."""
        self.store_path = settings.store_path
        if not create and not settings.store_path.exists():  # a folder there is the store's own error
            raise NotFoundError(no_store_message(settings.store_path))
        if upgrade:
            return Store.for_reading(settings.store_path)
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
            click.echo(printable(self.redact(message)), err=True)

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
        """What every message to the terminal goes through: secrets masked, and control
        characters (escape sequences in a title a group member typed) made visible."""
        return printable(self.scrub(text), layout=True)

    def scrub(self, text: str) -> str:
        """``text`` with every known secret masked (the API key of the settings, of the
        environment, of ``--api-key``)."""
        known = [*self.secrets, self.env.get("ZOTERO_API_KEY", ""), self.env.get("ZOTERO_API_KEY", "").strip()]
        for secret in sorted({s for s in known if len(s) >= 2}, key=len, reverse=True):
            text = text.replace(secret, "********")
        return _KEY_PATTERN.sub(lambda m: m.group(1) + "********", text)


_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
# An API key written next to its name, wherever a library may have put it (a header, a URL).
_KEY_PATTERN = re.compile(r"(?i)((?:zotero-api-key|api[_-]?key|[?&]key)\s*[=:]\s*['\"]?)[^\s'\",&]+")


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

PIPE_CLOSED = "the output was cut short: the program reading it (such as head) closed the pipe."


class ZotcurateGroup(click.Group):
    """click's group, but a closed pipe is ours to report: click itself turns it into a silent
    exit 1, which would read as "findings"."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            _silence_stdout()
            raise OutputError(PIPE_CLOSED) from exc

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=ZotcurateGroup, context_settings=CONTEXT_SETTINGS)
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
    11 cannot write, 70 internal error, 130 interrupted.
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
        sys.stdout.flush()  # a pipe's reader gone shows here, while it can still be told in one sentence
    except ZotcurateError as exc:
        return _report(app, exc)
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
    except BrokenPipeError:
        _silence_stdout()  # else Python's own flush at exit prints the same error again
        click.echo(f"Error: {PIPE_CLOSED}", err=True)
        return ExitCode.OUTPUT
    except Exception as exc:  # the last line of defence: one sentence, never a traceback
        known = _known_failure(app, exc)
        if known is not None:
            return _report(app, known)
        return _internal_error(app, exc, argv)
    return exit_status(outcome)


def _report(app: AppContext, exc: ZotcurateError) -> ExitCode:
    """The error as one line (a message quoting a library's multi-line text included)."""
    one_line = _LINE_BREAKS.sub(" ", exc.message.strip())
    click.echo(f"Error: {app.redact(one_line)}", err=True)
    return exc.exit_code


def _known_failure(app: AppContext, exc: Exception) -> ZotcurateError | None:
    """An error no module turned into a sentence, but whose meaning is certain: the store failing
    outside its ``with`` block, or a disk that is full or read-only."""
    if app.store_path is not None:
        store_error = as_store_error(exc, app.store_path) if not isinstance(exc, OSError) else None
        if store_error is not None:
            return store_error
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS and exc.filename:
        # Reads are turned into sentences where they happen (InputFileError, ConfigError):
        # what is left is a file written somewhere without its own message.
        return output_error(Path(str(exc.filename)), exc)
    return None


def _silence_stdout() -> None:
    with suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _internal_error(app: AppContext, exc: Exception, argv: Sequence[str] | None) -> ExitCode:
    """A bug: the traceback goes to a file (secrets masked), the terminal gets one line saying
    where. Every store write is a transaction, so the store holds only finished steps."""
    where = _write_crash_report(app, exc, argv)
    told = f"the details are in {where}; please include that file in a bug report" if isinstance(where, Path) \
        else f"the details could not be written ({where})"
    click.echo(f"Internal error ({type(exc).__name__}), a bug in zotcurate: {app.redact(told)}. "
               "Nothing half-done was kept in the store.", err=True)
    return ExitCode.INTERNAL


def _write_crash_report(app: AppContext, exc: Exception, argv: Sequence[str] | None) -> Path | str:
    """The crash report's path, or why it could not be written anywhere."""
    now = datetime.now(UTC)
    try:
        release = version("zotcurate")
    except PackageNotFoundError:
        release = "unknown"
    args = list(argv) if argv is not None else sys.argv[1:]
    text = "\n".join([
        f"zotcurate {release} internal error, {now.isoformat(timespec='seconds')}",
        f"Python {sys.version.split()[0]} on {platform.platform()}",
        f"command: zotcurate {' '.join(_mask_key_options(args))}",
        "",
        "".join(traceback.format_exception(exc)),
    ])
    text = app.scrub(text)
    name = f"crash-{now.strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}.txt"
    reason = "no folder could be written"
    for folder in (crash_report_dir(), Path(tempfile.gettempdir()) / "zotcurate-crashes"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            # Paths and data in it are the user's only (0600); a new file, never one planted there (a symlink).
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as error:
            reason = f"{error.strerror or error}: {folder}"
            continue
        _prune_crash_reports(folder)
        return path
    return reason


def _mask_key_options(args: Sequence[str]) -> list[str]:
    out, hide_next = [], False
    for arg in args:
        if hide_next:
            out.append("********")
            hide_next = False
        elif arg == "--api-key":
            out.append(arg)
            hide_next = True
        elif arg.startswith("--api-key="):
            out.append("--api-key=********")
        else:
            out.append(arg)
    return out


def _prune_crash_reports(folder: Path) -> None:
    reports = sorted(folder.glob("crash-*.txt"))
    for old in reports[:-CRASH_REPORTS_KEPT]:
        with suppress(OSError):
            old.unlink()


def entry_point() -> None:  # pragma: no cover - the console script
    sys.exit(int(main()))
