"""Commands for metadata checks: ``check`` and ``profile show``."""

from __future__ import annotations

from pathlib import Path

import click

from zotcurate.check.engine import check_tag_plan, run_check
from zotcurate.check.profile import SEVERITIES, load_profile, profile_rows
from zotcurate.check.report import format_report
from zotcurate.cli.app import AppContext, findings, pass_app
from zotcurate.cli.options import apply_option, collection_option, format_option, library_option
from zotcurate.errors import ConfigError, ExitCode
from zotcurate.output import printable, render_table, to_json
from zotcurate.writers.markdown import escape as md_escape
from zotcurate.zotero.writeback import require_writable, write_back


@click.command("check")
@library_option("to check")
@collection_option()
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), metavar="FILE",
              help="A TOML profile extending the shipped default.")
@format_option(("table", "json", "csv", "md"))
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]), default="error", show_default=True,
              help="Exit with status 1 when a finding at or above this severity exists.")
@click.option("--tag", metavar="TAG", help="Plan to add TAG to items with an error and remove it from the others.")
@apply_option("the --tag plan")
@pass_app
def check_cmd(app: AppContext, library: str | None, collections: tuple[str, ...], profile_path: Path | None,
              fmt: str, fail_on: str, tag: str | None, apply_: bool) -> ExitCode:
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
    if apply_ and not tag:
        raise click.UsageError("--apply writes the --tag TAG plan: give --tag as well.")
    settings = app.settings(library=library)
    ref = app.library(settings) if apply_ else None
    if ref is not None:
        require_writable(settings, ref)  # before any work, not after the check
    profile = load_profile(profile_path)
    with app.open_store(settings, read_only=not apply_) as store:  # only --apply writes (the items it changed)
        ref = ref or app.library(settings, store)
        lib = store.require_library(ref.name)
        with app.progress() as progress:
            report = run_check(store, lib, profile, collections=collections, progress=progress)
        click.echo(printable(format_report(report, fmt, width=app.page_width), layout=True), nl=False)
        if tag:
            to_stderr = fmt in ("json", "csv")  # keep machine output clean
            plan = check_tag_plan(store, lib, report, tag, profile, collections=collections)
            with app.progress() as progress:
                write_back(store, settings, ref, lib, [plan], apply=apply_, progress=progress,
                           echo=lambda text: click.echo(app.redact(text), err=to_stderr))
    return findings(report.fails(fail_on))


@click.group("profile")
def profile_group() -> None:
    """Inspect check profiles."""


@profile_group.command("show")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), metavar="FILE",
              help="A TOML profile (it extends the shipped default).")
@click.option("--type", "item_types", multiple=True, metavar="TYPE",
              help="Show the effective rules of this item type (repeatable); default: every type the profile names.")
@format_option(("table", "json", "md"))
@pass_app
def profile_show_cmd(app: AppContext, profile_path: Path | None, item_types: tuple[str, ...], fmt: str) -> None:
    """Print the effective profile: every rule, its severity, fields and where it is set.

    \b
    Example:
      zotcurate profile show --type report --type webpage
    """
    profile = load_profile(profile_path)
    known = set(profile.schema.item_types)
    for t in item_types:
        if t not in known and t != "*":
            from difflib import get_close_matches

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
                                f"({' + '.join(profile.sources)})", width=app.page_width), nl=False)
        click.echo(f"Severities: {', '.join(SEVERITIES)}. Field rules of other item types: those of \"*\".")


COMMANDS = [check_cmd, profile_group]
