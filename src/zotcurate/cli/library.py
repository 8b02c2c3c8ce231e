"""Commands that fill and describe the store: init, doctor, config, sync, import, export,
status, collections."""

from __future__ import annotations

from pathlib import Path

import click

from .. import formats
from ..config import LibraryRef
from ..output import render_table, to_json
from ..store import Store
from . import AppContext, cli, pass_app

FORMAT_CHOICE = click.Choice(["table", "json"])


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--library", "-l", "library", metavar="file:NAME", help="The file library to fill (replaced as a whole).")
@pass_app
def import_cmd(app: AppContext, paths: tuple[Path, ...], library: str | None) -> None:
    """Import a Zotero API export (folder with items.json and collections.json, or one JSON
    file), CSL-JSON or BibTeX into a file:NAME library.

    \b
    Example:
      zotcurate import examples/numerique-sante --library file:numerique-sante

    A malformed file stops the import with its name and position; the store is untouched.
    """
    settings = app.settings(library=library)
    ref = LibraryRef.parse(library) if library else (settings.library or _default_file_library(paths[0]))
    with app.open_store(settings) as store:
        result = formats.import_files(store, ref, list(paths))
        click.echo(f"Imported {result.items} items and {result.collections} collections into {result.library}.")
        _print_summary(store, ref.name)


def _default_file_library(path: Path) -> LibraryRef:
    name = path.stem if path.is_file() else path.resolve().name
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name) or "import"
    return LibraryRef.parse(f"file:{safe}")


def _print_summary(store: Store, name: str) -> None:
    lib = store.require_library(name)
    counts = store.counts(lib)
    click.echo(
        f"{lib.name}: {counts['items']} items, {counts['notes']} notes, {counts['attachments']} attachments, "
        f"{counts['collections']} collections, {counts['trashed']} in the trash."
    )
    item_counts = store.collection_item_counts(lib)
    for coll in store.collections(lib):
        depth = coll.path.count("/")
        click.echo(f"  {'  ' * depth}{coll.name} ({item_counts.get(coll.key, 0)})")


@cli.command("export")
@click.option("--library", "-l", "library", metavar="LIB", help="The library to export.")
@click.option("--collection", "-c", metavar="PATH", help="Only this collection (key or path) and its sub-collections.")
@click.option("--format", "fmt", type=click.Choice(formats.FORMATS), default="zotero-json", show_default=True)
@click.option("--output", "-o", "output", required=True, type=click.Path(path_type=Path),
              help="File to write (a folder for zotero-json without .json suffix).")
@pass_app
def export_cmd(app: AppContext, library: str | None, collection: str | None, fmt: str, output: Path) -> None:
    """Export a library or a collection as Zotero JSON, CSL-JSON or BibTeX."""
    settings = app.settings(library=library)
    ref = settings.require_library()
    with app.open_store(settings) as store:
        lib = store.require_library(ref.name)
        n = formats.export_library(store, lib, fmt, output, collection=collection)
    click.echo(f"Wrote {n} items to {output} ({fmt}).")


@cli.command("status")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
@pass_app
def status_cmd(app: AppContext, fmt: str) -> None:
    """Show each library in the store: version, counts and last sync."""
    settings = app.settings()
    with app.open_store(settings) as store:
        rows = []
        for lib in store.libraries():
            counts = store.counts(lib)
            log = store.sync_log(lib, limit=1)
            rows.append({
                "library": lib.name, "title": lib.title, "version": lib.version, **counts,
                "synced_at": lib.synced_at, "last_sync_status": log[0]["status"] if log else None,
            })
    if fmt == "json":
        click.echo(to_json({"store": str(settings.store_path), "libraries": rows}), nl=False)
        return
    if not rows:
        click.echo(f"The store {settings.store_path} is empty: run 'zotcurate sync' or 'zotcurate import'.")
        return
    click.echo(render_table(rows, ["library", "title", "version", "items", "notes", "attachments",
                                   "collections", "trashed", "synced_at"]), nl=False)


@cli.command("collections")
@click.option("--library", "-l", "library", metavar="LIB", help="The library whose collections to list.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
@pass_app
def collections_cmd(app: AppContext, library: str | None, fmt: str) -> None:
    """Print the collection tree with item counts, paths and keys.

    Collections are addressed elsewhere by key or by path, e.g.
    "Numérique et santé/1. Données de cadrage".
    """
    settings = app.settings(library=library)
    ref = settings.require_library()
    with app.open_store(settings) as store:
        lib = store.require_library(ref.name)
        counts = store.collection_item_counts(lib)
        colls = store.collections(lib)
    if fmt == "json":
        click.echo(to_json([{"key": c.key, "name": c.name, "path": c.path, "parent": c.parent_key,
                             "items": counts.get(c.key, 0)} for c in colls]), nl=False)
        return
    for c in colls:
        click.echo(f"{'  ' * c.path.count('/')}{c.name} ({counts.get(c.key, 0)})  [{c.key}]")
