"""Commands that fill and describe the store: init, doctor, config, sync, import, export,
status, collections."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import click

from zotcurate.cli.app import AppContext, pass_app, stored_libraries
from zotcurate.cli.options import collection_option, format_option, library_option
from zotcurate.config import DEFAULT_API_URL, mask_secret, write_config_file
from zotcurate.diagnose import diagnose, readable_groups
from zotcurate.errors import ConfigError, ExitCode
from zotcurate.formats.base import BIBTEX_FLAVOURS, ExportOptions, ImportOptions
from zotcurate.formats.files import FORMATS, export_library, export_text, import_files
from zotcurate.model import LibraryRef
from zotcurate.output import plural, printable, render_table, to_json
from zotcurate.status import library_status
from zotcurate.store import Store
from zotcurate.zotero.files import human_size, sync_files
from zotcurate.zotero.sync import sync_library

TABLE_OR_JSON = ("table", "json")
STATUS_COLUMNS = ["library", "title", "version", "items", "notes", "attachments", "collections", "trashed",
                  "files", "disk", "synced", "links checked"]


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@library_option("to fill (replaced as a whole)", kinds="file:NAME", default="named after the first path",
                metavar="file:NAME")
@click.option("--strict", is_flag=True, help="Refuse a file rather than skip an entry that cannot be read, keep an "
              "undefined macro's name or guess an encoding (each is a warning without --strict).")
@pass_app
def import_cmd(app: AppContext, paths: tuple[Path, ...], library: str | None, strict: bool) -> None:
    """Import a Zotero API export (folder with items.json and collections.json, or one JSON
    file), CSL-JSON or BibTeX/biblatex into a file:NAME library. The format is read from
    the content, whatever the file is called.

    \b
    Example:
      zotcurate import examples/numerique-sante --library file:numerique-sante

    A malformed file stops the import with its name and position; the store is untouched.
    A BibTeX entry that cannot be read is skipped with a warning naming its line (--strict:
    the file is refused).
    """
    settings = app.settings(library=library)
    ref = LibraryRef.parse(library) if library else (settings.library or _default_file_library(paths[0]))
    with app.open_store(settings, create=True) as store:
        result = import_files(store, ref, list(paths), options=ImportOptions(strict=strict))
        for warning in result.warnings:
            click.echo(f"Warning: {printable(warning)}", err=True)
        click.echo(f"Imported {plural(result.items, 'item')} and {plural(result.collections, 'collection')} "
                   f"into {result.library}.")
        _print_summary(store, ref.name)
        if result.warnings:
            click.echo(f"{len(result.warnings)} warning(s) above: what was skipped or guessed; --strict refuses "
                       "such files.", err=True)


def _default_file_library(path: Path) -> LibraryRef:
    name = path.stem if path.is_file() else path.resolve().name
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name) or "import"
    return LibraryRef.parse(f"file:{safe}")


def _print_summary(store: Store, name: str) -> None:
    lib = store.require_library(name)
    counts = store.counts(lib)
    click.echo(
        f"{lib.name}: {plural(counts['items'], 'item')}, {plural(counts['notes'], 'note')}, "
        f"{plural(counts['attachments'], 'attachment')}, {plural(counts['collections'], 'collection')}, "
        f"{counts['trashed']} in the trash."
    )
    item_counts = store.collection_item_counts(lib)
    for coll in store.collections(lib):
        depth = coll.path.count("/")
        click.echo(f"  {'  ' * depth}{printable(coll.name)} ({item_counts.get(coll.key, 0)})")


@click.command("export")
@library_option("to export")
@collection_option(multiple=False)
@format_option(FORMATS, default="zotero-json", help="The file format.")
@click.option("--output", "-o", "output", metavar="PATH", default="-", show_default=True,
              help="File to write, '-' for standard output (a folder for zotero-json when it has no .json suffix).")
@click.option("--bibtex-flavour", "flavour", type=click.Choice(list(BIBTEX_FLAVOURS)), default="bibtex",
              show_default=True, help="For --format bibtex: classic BibTeX entry types and fields, or biblatex's "
              "(@online, date, langid, more creator roles).")
@pass_app
def export_cmd(app: AppContext, library: str | None, collection: str | None, fmt: str, output: str,
               flavour: str) -> None:
    """Export a library or a collection as Zotero JSON, CSL-JSON or BibTeX/biblatex.

    \b
    Examples:
      zotcurate export --format bibtex > biblio.bib
      zotcurate export --format bibtex --bibtex-flavour biblatex -o biblio.bib
      zotcurate export --format csl-json -c "Thème/Sous-thème" -o theme.json
      zotcurate export -o export/          # Zotero JSON: items.json and collections.json
    """
    settings = app.settings(library=library)
    options = ExportOptions(bibtex_flavour=flavour)
    with app.open_store(settings, read_only=True) as store:
        lib = store.require_library(app.library(settings, store).name)
        if output == "-":  # standard output, as pandoc and jq: the data alone, the notice on stderr
            text, n = export_text(store, lib, fmt, collection=collection, options=options)
            click.echo(text, nl=False)
            app.notice(f"Wrote {plural(n, 'item')} to standard output ({fmt}).")
            return
        n = export_library(store, lib, fmt, Path(output), collection=collection, options=options)
    click.echo(f"Wrote {plural(n, 'item')} to {output} ({fmt}).")


@click.command("status")
@format_option(TABLE_OR_JSON)
@pass_app
def status_cmd(app: AppContext, fmt: str) -> None:
    """Show each library in the store: version, counts, last sync and last link audit.

    An older store is brought up to date here; a missing one is not created.
    """
    settings = app.settings()
    with app.open_store(settings, upgrade=True) as store:  # this is where an older store is upgraded
        rows = library_status(store)
    if fmt == "json":
        click.echo(to_json({"store": str(settings.store_path), "libraries": rows}), nl=False)
    elif not rows:
        click.echo(f"The store {settings.store_path} is empty: run 'zotcurate sync' or 'zotcurate import'.")
    else:
        table = [{**row, "synced": _when(row["synced_at"]), "links checked": _when(row["links_checked_at"]),
                  "disk": human_size(row["file_bytes"])} for row in rows]
        # The files columns appear once 'sync --files' has stored some.
        columns = [c for c in STATUS_COLUMNS if c not in ("files", "disk") or any(r["files"] for r in rows)]
        click.echo(render_table(table, columns, width=app.page_width, shorten=("title",),
                                drop=("trashed", "attachments", "notes", "version", "disk")), nl=False)
        click.echo(f"{plural(len(rows), 'library', 'libraries')} in {settings.store_path}.")


def _when(stamp: str | None) -> str:
    """A stored time (2025-05-03T10:00:00Z) as a table shows it: to the minute, and breakable."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if stamp else "never"


@click.command("collections")
@library_option("whose collections to list")
@format_option(TABLE_OR_JSON)
@pass_app
def collections_cmd(app: AppContext, library: str | None, fmt: str) -> None:
    """Print the collection tree with item counts, paths and keys.

    Collections are addressed elsewhere by key or by path, e.g.
    "Numérique et santé/1. Données de cadrage".
    """
    settings = app.settings(library=library)
    with app.open_store(settings, read_only=True) as store:
        lib = store.require_library(app.library(settings, store).name)
        counts = store.collection_item_counts(lib)
        colls = store.collections(lib)
        cycles = store.collection_cycles(lib)
    for cycle in cycles:  # a sync can deliver A in B in A; each stays listed and addressable
        names = " → ".join(app.redact(repr(c.name)) for c in [*cycle, cycle[0]])
        click.echo(f"Warning: the collections {names} are each other's parents; {app.redact(repr(cycle[0].name))} "
                   "is listed at the top level. Move one of them in Zotero and sync again.", err=True)
    if fmt == "json":
        click.echo(to_json([{"key": c.key, "name": c.name, "path": c.path, "parent": c.parent_key,
                             "items": counts.get(c.key, 0)} for c in colls]), nl=False)
        return
    for c in colls:
        click.echo(f"{'  ' * c.path.count('/')}{printable(c.name)} ({counts.get(c.key, 0)})  [{printable(c.key)}]")


@click.command("sync")
@library_option("to sync", kinds="group:ID, user:ID or local")
@click.option("--full", is_flag=True, help="Download every object again (repairs a damaged copy); deletions are "
              "found by comparing the full key lists.")
@click.option("--files/--no-files", "files", default=None,
              help="Download the attachments' files too (PDFs…, for cover thumbnails) into a folder beside the "
                   "store [default: the config file's sync_files, else no].")
@click.option("--max-file-size", "max_mb", type=click.FloatRange(min=0, min_open=True), metavar="MB",
              help="With --files: skip files larger than this [default: the config file's max_file_mb, else 100].")
@collection_option(help="With --files: only the files of the items in this collection (key or path) and its "
                        "sub-collections")
@format_option(("text", "json"))
@pass_app
def sync_cmd(app: AppContext, library: str | None, full: bool, files: bool | None, max_mb: float | None,
             collections: tuple[str, ...], fmt: str) -> None:
    """Bring the local copy of a Zotero library up to date, incrementally.

    Only what changed since the last sync is downloaded; with nothing changed this is one
    request. A run that is interrupted is finished by the next one, losing nothing.
    With --files, the attachments' files follow: only new or changed ones are downloaded.

    \b
    Examples:
      ZOTERO_API_KEY=… zotcurate sync --library group:12345
      zotcurate sync                  # the library from 'zotcurate init'
      zotcurate sync --files -c "Numérique et santé"
    """
    settings = app.settings(library=library)
    ref = app.library(settings)
    with_files = settings.sync_files if files is None else files
    if collections and not with_files:
        raise click.UsageError("--collection limits the files downloaded: use it with --files.")
    with app.open_store(settings, create=True) as store, app.progress() as progress:
        result = sync_library(store, settings, ref, full=full, progress=progress)
        got = None
        if with_files:
            got = sync_files(store, settings, ref, collections=collections, progress=progress,
                             max_bytes=int(max_mb * 1_000_000) if max_mb else None)
    if fmt == "json":
        click.echo(to_json({**result.as_dict(), **({"files": got.as_dict()} if got else {})}), nl=False)
        return
    click.echo(result.summary())
    if got is None:
        return
    click.echo(got.summary())
    for label, lines in (("over the size limit (use --max-file-size to raise it)", got.too_large),
                         ("without a file on Zotero's storage", got.unavailable),
                         ("that failed (run 'zotcurate sync --files' again)", got.failed)):
        if lines:
            app.notice(f"{plural(len(lines), 'file')} {label}:")
            for line in lines:
                app.notice(f"  {line}")


@click.command("init")
@click.option("--api-key",
              help="The key (else ZOTERO_API_KEY, else asked, hidden). Create one at zotero.org/settings/keys.")
@click.option("--group", "group", metavar="ID", help="The group to use (else chosen from the list).")
@pass_app
def init_cmd(app: AppContext, api_key: str | None, group: str | None) -> None:
    """Set up: ask for the API key, list the groups it can read, write the config file (mode 0600)."""
    settings = app.settings()
    api_key = api_key or settings.api_key
    if not api_key:
        api_key = click.prompt("Zotero API key", hide_input=True).strip()
    app.secrets.append(api_key)
    probe = dataclasses.replace(settings, api_key=api_key)
    info, groups = readable_groups(probe)
    click.echo(f"The key belongs to {info.username or 'user ' + info.user_id}. Groups it can read:")
    for g in groups:
        click.echo(f"  {g['id']:>10}  {app.redact(str(g['name']))}")
    if not groups:
        click.echo("  (none: give the key read access to your group at https://www.zotero.org/settings/keys)")
    if group is None:
        default = groups[0]["id"] if groups else None
        group = click.prompt("Group ID to use", default=default)
    if groups and str(group) not in {g["id"] for g in groups}:
        raise ConfigError(f"The key cannot read group {group}: choose one of the groups listed above.")
    values = {"api_key": api_key, "library": f"group:{group}"}
    if settings.api_url != DEFAULT_API_URL:
        values["api_url"] = settings.api_url
    write_config_file(settings.config_path, values)
    click.echo(f"Wrote {settings.config_path} (readable only by you). Next: zotcurate sync")


@click.command("doctor")
@pass_app
def doctor_cmd(app: AppContext) -> ExitCode:
    """Check config, API key scope, network and store; explain each problem in one sentence."""
    settings = app.settings()
    with contextlib.suppress(ConfigError):  # no library, or several in the store: a finding of diagnose
        settings = settings.with_library(app.library(settings))
    findings = diagnose(settings)
    for f in findings:
        click.echo(f"{'ok     ' if f.ok else 'PROBLEM'}  {f.check:<8} {app.redact(f.message)}")
    bad = [f for f in findings if not f.ok]
    return ExitCode(bad[0].exit_code) if bad else ExitCode.OK  # the first problem's code


@click.group("config")
def config_group() -> None:
    """Show the settings in force."""


@config_group.command("show")
@format_option(TABLE_OR_JSON)
@pass_app
def config_show(app: AppContext, fmt: str) -> None:
    """Print each setting and where it comes from; the API key is masked."""
    s = app.settings()
    library, library_source = (s.library.name if s.library else None), s.sources.get("library")
    stored = [] if s.library else stored_libraries(s.store_path)
    if len(stored) == 1:  # what the commands will use
        library, library_source = stored[0], "the only library in the store"
    rows: list[dict[str, Any]] = [
        {"setting": "api_key", "value": mask_secret(s.api_key), "source": s.sources.get("api_key")},
        {"setting": "library", "value": library, "source": library_source},
        {"setting": "store", "value": str(s.store_path), "source": s.sources.get("store")},
        {"setting": "api_url", "value": s.api_url, "source": s.sources.get("api_url")},
        {"setting": "config_file", "value": str(s.config_path),
         "source": "ZOTCURATE_CONFIG" if app.env.get("ZOTCURATE_CONFIG") else "default"},
    ]
    if fmt == "json":
        click.echo(to_json(rows), nl=False)
    else:
        click.echo(render_table(rows, ["setting", "value", "source"], width=app.page_width), nl=False)


COMMANDS = [import_cmd, export_cmd, status_cmd, collections_cmd, sync_cmd, init_cmd, doctor_cmd, config_group]
