"""``zotcurate audit``: the scheduled job (sync, check, links, dated report)."""

from __future__ import annotations

from pathlib import Path

import click

from zotcurate.audit import AuditOptions, run_audit
from zotcurate.cli.app import AppContext, pass_app
from zotcurate.cli.options import apply_option, collection_option, library_option
from zotcurate.errors import ExitCode
from zotcurate.links.audit import LinkOptions, parse_age
from zotcurate.links.extract import DEFAULT_DOI_RESOLVER


@click.command("audit")
@library_option("to audit")
@click.option("--output", "-o", "output", type=click.Path(path_type=Path), default=Path("audits"), show_default=True,
              help="Folder that receives one dated sub-folder per run (report.md, report.json).")
@collection_option()
@click.option("--profile", "profile", type=click.Path(path_type=Path),
              help="Metadata profile (TOML) extending the default.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]), default="error", show_default=True,
              help="Metadata findings at or above this make the run exit 1 (broken links always do).")
@click.option("--max-age", default="30d", show_default=True, metavar="AGE",
              help="Re-check only links whose last success is older than this.")
@click.option("--confirm-after", type=click.IntRange(1, 30), default=2, show_default=True, metavar="N",
              help="Call a link broken after N failed audits at least a day apart (one bad night raises no alarm).")
@click.option("--per-host", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--no-sync", is_flag=True, help="Audit the stored copy without syncing first.")
@click.option("--tag-errors", metavar="TAG", help="Write-back: TAG on items with metadata errors (removed when fixed).")
@click.option("--tag-broken", metavar="TAG",
              help="Write-back: TAG on items with a broken link (removed when it recovers).")
@click.option("--fix-redirects", is_flag=True, help="Write-back: replace URLs that moved permanently.")
@click.option("--update-access-date", is_flag=True, help="Write-back: set accessDate where the link answered.")
@apply_option("the planned changes")
@pass_app
def audit_cmd(app: AppContext, library: str | None, output: Path, collections: tuple[str, ...],
              profile: Path | None, fail_on: str, max_age: str, confirm_after: int, per_host: int,
              no_sync: bool, tag_errors: str | None, tag_broken: str | None, fix_redirects: bool,
              update_access_date: bool, apply_: bool) -> ExitCode:
    """The scheduled job: sync, check metadata, audit links, write a dated report folder.

    \b
    Exit codes for cron and systemd:
      0   all clear
      1   metadata findings at or above --fail-on, or broken links
      6   the sync failed (the stored copy was still audited and reported; nothing written)
      8   a write-back conflict that a re-sync and a retry did not solve
      10  another audit is still running (nothing was done)
      other codes as for every command (see 'zotcurate --help')

    \b
    Example crontab line (every night at 02:30, tagging problems in the group):
      30 2 * * *  zotcurate --quiet audit --output /srv/biblio/audits --tag-errors "à compléter"
                  --tag-broken "lien mort" --apply >> /var/log/zotcurate.log 2>&1
    """
    settings = app.settings(library=library)
    ref = app.library(settings)
    options = AuditOptions(
        output_dir=output, profile=profile, collections=collections, fail_on=fail_on, sync=not no_sync,
        tag_errors=tag_errors, tag_broken=tag_broken, fix_redirects=fix_redirects,
        update_access_date=update_access_date, apply=apply_,
        link_options=LinkOptions(max_age=parse_age(max_age), confirm_after=confirm_after,
                                       per_host=per_host, doi_resolver=app.env.get("ZOTCURATE_DOI_RESOLVER")
                                       or DEFAULT_DOI_RESOLVER, allow_private=settings.links_allow_private,
                                       max_duration=settings.links_max_duration),
    )
    with app.open_store(settings, create=not no_sync) as store, app.progress() as progress:
        result = run_audit(store, settings, ref, options, progress=progress)
    click.echo(app.redact(result.summary()))
    return result.exit_code


COMMANDS = [audit_cmd]
