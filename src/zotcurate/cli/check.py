"""Commands for metadata checks: ``check`` and ``profile show``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from zotcurate.check.engine import apply_check_tag, plan_check_tag, run_check
from zotcurate.check.profile import SEVERITIES, load_profile, profile_rows
from zotcurate.check.report import format_plan, format_report
from zotcurate.cli import AppContext, cli
from zotcurate.errors import ConfigError, ExitCode
from zotcurate.output import render_table, to_json
from zotcurate.writers.markdown import escape as md_escape


@cli.command("check")
@click.option("--library", "-l", "library", metavar="LIB", help="The library to check.")
@click.option("--collection", "-c", "collections", multiple=True, metavar="PATH",
              help="Only this collection (path or key) and its sub-collections; repeatable.")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), metavar="FILE",
              help="A TOML profile extending the shipped default.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md"]), default="table",
              show_default=True)
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]), default="error", show_default=True,
              help="Exit with status 1 when a finding at or above this severity exists.")
@click.option("--tag", metavar="TAG", help="Plan to add TAG to items with an error and remove it from the others.")
@click.option("--apply", "apply_", is_flag=True, help="With --tag: write the tags to Zotero (else only print the plan).")
@click.pass_context
def check_cmd(ctx: click.Context, library: str | None, collections: tuple[str, ...], profile_path: Path | None,
              fmt: str, fail_on: str, tag: str | None, apply_: bool) -> None:
    """Check metadata completeness and format against a profile (offline, from the store).

    \b
    Examples:
      zotcurate check --collection "Numérique et santé/2. Obstacles et freins"
      zotcurate check --format csv > findings.csv
      zotcurate check --fail-on warning                 # nightly job: exit 1 on warnings too
      zotcurate check --tag "zotcurate:erreur"          # show which tags would change
      zotcurate check --tag "zotcurate:erreur" --apply  # write them to the group

    Silence a rule for one item in Zotero itself: a tag "zotcurate:ignore:RULE" or a line
    "zotcurate-ignore: RULE" in Extra. Exit status: 0 clean, 1 findings at or above
    --fail-on, 3 bad profile, 5 unknown library or collection, 8 write conflict.
    """
    app: AppContext = ctx.obj
    if apply_ and not tag:
        raise click.UsageError("--apply writes the --tag TAG plan: give --tag as well.")
    settings = app.settings(library=library)
    ref = settings.require_library()
    profile = load_profile(profile_path)
    with app.open_store(settings) as store:
        lib = store.require_library(ref.name)
        with app.progress() as progress:
            report = run_check(store, lib, profile, collections=collections, progress=progress)
        click.echo(format_report(report, fmt, width=_width()), nl=False)
        if tag:
            echo_err = fmt in ("json", "csv")  # keep machine output clean
            changes = plan_check_tag(store, lib, report, tag)
            click.echo(format_plan(tag, changes, report), nl=False, err=echo_err)
            if changes and not apply_:
                click.echo("Nothing was written: add --apply to write these tags to Zotero.", err=echo_err)
            if apply_ and changes:
                from zotcurate.zotero.client import ZoteroClient  # noqa: PLC0415 - only needed to write

                with app.progress() as progress, \
                        ZoteroClient(settings, ref, progress=progress) as client:
                    result = apply_check_tag(store, client, lib, profile, tag, changes, collections=collections,
                                             progress=progress)
                click.echo(result.summary(lib.name), err=echo_err)
    if report.fails(fail_on):
        ctx.exit(int(ExitCode.FINDINGS))


def _width() -> int:
    """The terminal's width when printing to one (at least 100), else a wide fixed page."""
    if sys.stdout.isatty():
        return max(100, shutil.get_terminal_size((160, 24)).columns)
    return 160


@cli.group("profile")
def profile_group() -> None:
    """Inspect check profiles."""


@profile_group.command("show")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), metavar="FILE",
              help="A TOML profile (it extends the shipped default).")
@click.option("--type", "item_types", multiple=True, metavar="TYPE",
              help="Show the effective rules of this item type (repeatable); default: every type the profile names.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md"]), default="table", show_default=True)
def profile_show_cmd(profile_path: Path | None, item_types: tuple[str, ...], fmt: str) -> None:
    """Print the effective profile: every rule, its severity, fields and where it is set.

    \b
    Example:
      zotcurate profile show --type report --type webpage
    """
    profile = load_profile(profile_path)
    known = set(profile.schema.item_types)
    for t in item_types:
        if t not in known and t != "*":
            from difflib import get_close_matches  # noqa: PLC0415

            close = get_close_matches(t, sorted(known), n=1)
            raise ConfigError(f"'{t}' is not a Zotero item type" + (f"; did you mean '{close[0]}'?" if close else "."))
    rows = profile_rows(profile, list(item_types) if item_types else None)
    columns = ["scope", "rule", "severity", "fields", "when", "origin"]
    if fmt == "json":
        click.echo(to_json(rows), nl=False)
    elif fmt == "md":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(md_escape(str(r[c])) for c in columns) + " |" for r in rows]
        click.echo("\n".join(lines))
    else:
        click.echo(render_table(rows, columns, title="Effective check profile "
                                f"({' + '.join(profile.sources)})", width=_width()), nl=False)
        click.echo(f"Severities: {', '.join(SEVERITIES)}. Field rules of other item types: those of \"*\".")
