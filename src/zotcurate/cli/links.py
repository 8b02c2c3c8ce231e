"""``zotcurate links``: audit the URLs and DOIs of a library's items, from the store."""

from __future__ import annotations

import click

from zotcurate.cli.app import AppContext, findings, pass_app
from zotcurate.cli.options import apply_option, collection_option, format_option, library_option
from zotcurate.errors import ExitCode
from zotcurate.links.audit import LinkOptions, audit_links, parse_age
from zotcurate.links.changes import link_plan
from zotcurate.links.extract import DEFAULT_DOI_RESOLVER
from zotcurate.links.report import format_report
from zotcurate.output import printable
from zotcurate.zotero.writeback import require_writable, write_back


@click.command("links")
@library_option("whose links to audit")
@collection_option()
@click.option("--max-age", metavar="AGE", help="Re-check only links whose last success is older than this "
              "(30d, 12h, 2w); failures are always re-checked. Default: check every link.")
@click.option("--concurrency", type=click.IntRange(1, 512), default=32, show_default=True,
              help="Requests in flight at once, all hosts together.")
@click.option("--per-host", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Requests in flight at once on one host (redirect hops count against the host they reach).")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=20.0, show_default=True, metavar="S",
              help="Seconds to wait for an answer (the connection itself: at most 10 s); a request still "
              "unfinished after 3 × S is given up, however slowly it keeps coming.")
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Extra attempts after 429, 502, 503, 504 or a dropped connection (Retry-After is honoured).")
@click.option("--confirm-after", type=click.IntRange(1, 30), default=1, show_default=True, metavar="N",
              help="Call a link broken only after N failed audits at least a day apart; until then it is transient.")
@click.option("--doi-resolver", metavar="URL", help="DOI resolver base URL [env ZOTCURATE_DOI_RESOLVER; "
              f"default {DEFAULT_DOI_RESOLVER}].")
@click.option("--allow-private-addresses/--block-private-addresses", "allow_private", default=None,
              help="Check links to private networks and loopback, or report them blocked [setting "
              "links_allow_private, default: allow]. Link-local and cloud-metadata addresses are never checked.")
@format_option(("table", "json", "csv", "md"))
@click.option("--all", "all_links", is_flag=True, help="In the table, list the links that are fine as well.")
@click.option("--fail-on", type=click.Choice(["broken", "never"]), default="broken", show_default=True,
              help="Exit with status 1 when broken links are found, or never.")
@click.option("--update-access-date", is_flag=True, help="Write-back: set accessDate on items whose link answered.")
@click.option("--tag-broken", metavar="TAG", help="Write-back: add TAG to items with a broken link, remove it "
              "from items whose links recovered.")
@click.option("--fix-redirects", is_flag=True,
              help="Write-back: replace a URL that moved permanently by its new address.")
@apply_option("the planned changes")
@pass_app
def links_cmd(app: AppContext, library: str | None, collections: tuple[str, ...],
              max_age: str | None, concurrency: int, per_host: int, timeout: float, retries: int,
              confirm_after: int, doi_resolver: str | None, allow_private: bool | None, fmt: str, all_links: bool,
              fail_on: str,
              update_access_date: bool, tag_broken: str | None, fix_redirects: bool, apply_: bool) -> ExitCode:
    """Audit the links (URL and DOI) of the items: ok, redirected, broken, transient, blocked, invalid.

    \b
    Examples:
      zotcurate links --max-age 30d
      zotcurate links -c "Numérique et santé/1. Données de cadrage" --format md > liens.md
      zotcurate links --tag-broken lien-mort --fix-redirects --update-access-date --apply

    Every check is kept in the store: reports say since when a link is broken and what
    changed since the previous audit. Exit status 1 when broken links are found
    (unless --fail-on never), 130 when interrupted (what was checked is kept).
    """
    if apply_ and not (update_access_date or tag_broken or fix_redirects):
        raise click.UsageError("--apply writes the plan of --update-access-date, --tag-broken or --fix-redirects: "
                               "give at least one of them.")
    settings = app.settings(library=library)
    ref = app.library(settings) if apply_ else None
    if ref is not None:
        require_writable(settings, ref)  # before any work, not after the audit
    with app.open_store(settings) as store:  # not read-only: every check is kept in the store's history
        ref = ref or app.library(settings, store)
        lib = store.require_library(ref.name)
        coll_keys = tuple(c.key for c in store.resolve_collections(lib, collections)) if collections else None
        options = LinkOptions(
            concurrency=concurrency, per_host=per_host, read_timeout=timeout, connect_timeout=min(timeout, 10.0),
            retries=retries, confirm_after=confirm_after, collections=coll_keys,
            max_age=parse_age(max_age) if max_age else None,
            doi_resolver=doi_resolver or app.env.get("ZOTCURATE_DOI_RESOLVER") or DEFAULT_DOI_RESOLVER,
            allow_private=settings.links_allow_private if allow_private is None else allow_private,
            max_duration=settings.links_max_duration,
        )
        with app.progress() as progress:
            audit = audit_links(store, lib, options, progress=progress)
        click.echo(printable(format_report(audit, fmt, all_links=all_links, width=app.page_width), layout=True),
                   nl=False)
        if (update_access_date or tag_broken or fix_redirects) and not audit.interrupted:
            plan = link_plan(store, lib, audit, update_access_date=update_access_date, tag_broken=tag_broken,
                             fix_redirects=fix_redirects)
            to_stderr = fmt in ("json", "csv")  # keep machine output clean
            with app.progress() as progress:
                write_back(store, settings, ref, lib, [plan], apply=apply_, progress=progress,
                           echo=lambda text: click.echo(app.redact(text), err=to_stderr))
    if audit.interrupted:
        click.echo("Interrupted: what was checked is kept; run the same command again to go on.", err=True)
        return ExitCode.INTERRUPTED
    return findings(fail_on == "broken" and bool(audit.broken))


COMMANDS = [links_cmd]
