"""Commands for metadata checks: ``check`` and ``profile show``."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import click

from ..checks import CheckReport, apply_check_tag, plan_check_tag, run_check
from ..errors import ConfigError, ExitCode
from ..output import progress_for, render_table, to_csv, to_json
from ..profile import SEVERITIES, load_profile, profile_rows
from ..writeback import Change
from . import AppContext, cli

CSV_COLUMNS = ["item_key", "rule", "severity", "field", "message", "item_type", "title", "link"]


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
        with progress_for(app.interactive, lambda m: click.echo(m, err=True), app.quiet) as progress:
            report = run_check(store, lib, profile, collections=collections, progress=progress)
        click.echo(format_report(report, fmt), nl=False)
        if tag:
            echo_err = fmt in ("json", "csv")  # keep machine output clean
            changes = plan_check_tag(store, lib, report, tag)
            click.echo(format_plan(tag, changes, report), nl=False, err=echo_err)
            if changes and not apply_:
                click.echo("Nothing was written: add --apply to write these tags to Zotero.", err=echo_err)
            if apply_ and changes:
                from ..zotero import ZoteroClient  # noqa: PLC0415 - only needed to write

                with progress_for(app.interactive, lambda m: click.echo(m, err=True), app.quiet) as progress, \
                        ZoteroClient(settings, ref, progress=progress) as client:
                    result = apply_check_tag(store, client, lib, profile, tag, changes, collections=collections,
                                             progress=progress)
                click.echo(f"Wrote {len(result.updated)} item(s) to {lib.name}"
                           + (f" ({len(result.retried)} after a re-sync)" if result.retried else "")
                           + (f"; {len(result.unchanged)} needed nothing" if result.unchanged else "") + ".",
                           err=echo_err)
    if report.fails(fail_on):
        ctx.exit(int(ExitCode.FINDINGS))


def format_plan(tag: str, changes: list[Change], report: CheckReport) -> str:
    add = [c.item_key for c in changes if c.add_tags]
    remove = [c.item_key for c in changes if c.remove_tags]
    lines = [f"Tag '{tag}': add to {len(add)} item(s), remove from {len(remove)} item(s)."]
    for c in changes:
        title = report.items[c.item_key].title if c.item_key in report.items else ""
        lines.append(f"  {c.describe():<{len(tag) + 2}} {c.item_key}  {title[:70]}")
    return "\n".join(lines) + "\n"


def format_report(report: CheckReport, fmt: str) -> str:
    if fmt == "json":
        return to_json([f.as_dict() for f in report.findings])
    if fmt == "csv":
        rows = []
        for f in report.findings:
            info = report.items.get(f.item_key)
            rows.append({**f.as_dict(), "item_type": info.item_type if info else "",
                         "title": info.title if info else "", "link": info.link if info else ""})
        return to_csv(rows, CSV_COLUMNS)
    if fmt == "md":
        return _markdown(report)
    return _table(report)


def _headline(report: CheckReport) -> str:
    counts = report.counts()
    return (f"{report.library}: {report.checked} items checked — {counts['error']} errors, "
            f"{counts['warning']} warnings, {counts['info']} infos.")


def _summary_rows(report: CheckReport) -> list[dict[str, object]]:
    return [{"collection": s.path, "items": s.items, "without error": s.complete,
             "complete": _share(s.items, s.share), "errors": s.errors, "warnings": s.warnings}
            for s in report.summary]


def _share(items: int, share: float) -> str:
    return f"{100 * share:.0f} %" if items else "—"  # a collection holding only sub-collections


SUMMARY_COLUMNS = ["collection", "items", "without error", "complete", "errors", "warnings"]


def _table(report: CheckReport) -> str:
    rows: list[dict[str, object]] = []
    for key, findings in report.by_item().items():
        info = report.items[key]
        if rows:
            rows.append({})  # a blank line between items
        for i, f in enumerate(findings):
            item_cell = f"{key} · {info.item_type}\n{info.title[:60] or '(no title)'}\n{info.link}" if i == 0 else ""
            rows.append({"item": item_cell, "severity": f.severity, "rule": f.rule, "field": f.field,
                         "message": f.message})
    out = []
    if rows:
        out.append(render_table(rows, ["item", "severity", "rule", "field", "message"], width=_width()))
    out.append(render_table(_summary_rows(report), SUMMARY_COLUMNS, title="Completeness by collection"))
    out.append(_headline(report) + "\n")
    return "".join(out)


def _width() -> int:
    """The terminal's width when printing to one (at least 100), else a wide fixed page."""
    if sys.stdout.isatty():
        return max(100, shutil.get_terminal_size((160, 24)).columns)
    return 160


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]|<>#])", r"\\\1", text).replace("\n", " ")


def _markdown(report: CheckReport) -> str:
    lines = [f"# Metadata check: {_md(report.library)}", "", _md(_headline(report)), "",
             "## Completeness by collection", "",
             "| Collection | Items | Without error | Complete | Errors | Warnings |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in report.summary:
        lines.append(f"| {_md(s.path)} | {s.items} | {s.complete} | {_share(s.items, s.share)} | {s.errors} | "
                     f"{s.warnings} |")
    lines += ["", "## Findings", ""]
    if not report.findings:
        lines.append("No findings.")
    for key, findings in report.by_item().items():
        info = report.items[key]
        lines += [f"### [{key}]({info.link}) — {_md(info.title) or '(no title)'} ({info.item_type})", ""]
        for f in findings:
            where = f" ({f.field})" if f.field else ""
            lines.append(f"- **{f.severity}** `{f.rule}`{_md(where)}: {_md(f.message)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


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
        lines += ["| " + " | ".join(_md(str(r[c])) for c in columns) + " |" for r in rows]
        click.echo("\n".join(lines))
    else:
        click.echo(render_table(rows, columns, title="Effective check profile "
                                f"({' + '.join(profile.sources)})", width=_width()), nl=False)
        click.echo(f"Severities: {', '.join(SEVERITIES)}. Field rules of other item types: those of \"*\".")
