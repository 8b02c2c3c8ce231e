"""Store → Document: the annotated bibliography a manifest describes.

Steps: open the source library (a manifest's files are read into a scratch in-memory store;
the user's store is only ever read: for the library, or for the files' link-audit history),
resolve the parts to collections, pick each part's entries (never trashed, optionally by
tag), sort them (newest first by default), format every citation in one citeproc pass,
then lay out each entry as citation + access link + commentary. Intro texts are Markdown
whose ``[@KEY]`` citations become footnotes numbered through the whole document.

One bad item (unmappable data, a style error on that item) is reported in
``RenderResult.problems`` and skipped; it never stops the bibliography.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from zotcurate.document import (
    BODY,
    CITATION,
    COMMENTARY,
    LINK,
    NOTICE,
    PREAMBLE,
    Block,
    Document,
    Heading,
    Inline,
    Paragraph,
    Span,
    clean_spans,
    clean_text,
    plain,
)
from zotcurate.errors import ConfigError, NotFoundError, RenderError
from zotcurate.fields import split_doi
from zotcurate.formats.csljson import zotero_to_csl
from zotcurate.formats.files import import_files
from zotcurate.model import Collection, Item, Library, LibraryRef
from zotcurate.render.citations import CitationFormatter
from zotcurate.render.manifest import SORTS, Manifest, Part
from zotcurate.render.markup import cited_keys, html_to_blocks, markdown_to_blocks, text_to_blocks
from zotcurate.store import Store
from zotcurate.writers import WriteOptions, Writer, options_for, writers_for

MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
             "octobre", "novembre", "décembre")


@dataclass
class ResolvedPart:
    collection: Collection
    heading: str | None  # None: no heading (the root of an unstructured selection)
    intro: str = ""
    children: list[ResolvedPart] = field(default_factory=list)


@dataclass
class RenderResult:
    document: Document
    entries: int  # entry blocks written (an item in two parts counts twice)
    problems: list[str] = field(default_factory=list)  # one sentence per skipped item


@dataclass(frozen=True)
class LinkHistory:
    """Where the link audit of the rendered library is recorded: the user's store, also when
    the items themselves come from files read into a scratch store."""

    store: Store
    library: Library

    def last_checked(self, item_keys: Sequence[str]) -> str | None:
        return self.store.links_last_checked(self.library, item_keys)


@dataclass
class RenderSource:
    store: Store  # where the items are read: the user's store, or a scratch store holding the files
    library: Library
    history: LinkHistory | None  # None: no link history (files never audited, or no user store)


@dataclass
class RenderOutcome:
    paths: list[Path]
    entries: int
    problems: list[str]


# -- dates ----------------------------------------------------------------------------------

def french_date(iso: str) -> str:
    """``2025-05-03T10:00:00Z`` → ``3 mai 2025`` (``1er`` for the first of the month)."""
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00")).date()
    except ValueError:
        when = date.fromisoformat(iso[:10])
    day = "1er" if when.day == 1 else str(when.day)
    return f"{day} {MONTHS_FR[when.month - 1]} {when.year}"


def title_date(value: str, locale: str) -> str:
    """A title page's date in words for a French document (``2025-07`` → ``juillet 2025``); other
    values and languages are printed as given."""
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", value.strip())
    if not m or not locale.lower().startswith("fr") or not 1 <= int(m.group(2)) <= 12:
        return value
    try:
        return french_date(value.strip()) if m.group(3) else f"{MONTHS_FR[int(m.group(2)) - 1]} {m.group(1)}"
    except ValueError:
        return value


def _date_parts(csl: dict[str, Any]) -> tuple[int, int, int] | None:
    issued = csl.get("issued") or {}
    parts = (issued.get("date-parts") or [[]])[0] if isinstance(issued, dict) else []
    try:
        nums = [int(p) for p in parts[:3]]
    except (TypeError, ValueError):
        return None
    if not nums or not nums[0]:
        return None
    nums += [0] * (3 - len(nums))
    return nums[0], nums[1], nums[2]


def sort_entries(entries: list[_Entry], how: str) -> list[_Entry]:
    """``date``: newest first, a year-only date after the months of that year, undated last.
    ``date-asc``: oldest first, undated last. ``author`` / ``title``: alphabetical."""
    def text_key(e: _Entry) -> tuple[str, str]:
        return plain(e.spans).casefold(), e.item.key

    if how in ("date", "date-asc"):
        dated = [e for e in entries if e.when is not None]
        undated = sorted((e for e in entries if e.when is None), key=text_key)
        # A missing month or day is 0: descending puts "2025" after "2025-01".
        dated.sort(key=text_key)
        dated.sort(key=lambda e: e.when, reverse=(how == "date"))  # stable: ties keep text order
        return dated + undated
    if how == "title":
        return sorted(entries, key=lambda e: (str(e.item.data.get("title", "")).casefold(), e.item.key))
    return sorted(entries, key=text_key)


# -- the pieces of an entry -------------------------------------------------------------

@dataclass
class _Entry:
    item: Item
    csl: dict[str, Any]
    spans: list[Span]
    when: tuple[int, int, int] | None


def _doi_url(doi: str) -> str:
    return "https://doi.org/" + split_doi(doi)[0]


def access_span(csl: dict[str, Any], manifest: Manifest) -> Span:
    """"Accéder au document" → URL, else the DOI's address; else "Disponible sur demande" → contact."""
    url = str(csl.get("URL") or "").strip()
    doi = str(csl.get("DOI") or "").strip()
    if url:
        return Span(manifest.access.online, url=clean_text(url))
    if doi:
        return Span(manifest.access.online, url=_doi_url(doi))
    return Span(manifest.access.on_request, url=manifest.access.contact)


def commentary_blocks(item: Item, notes: Sequence[Item], manifest: Manifest) -> list[Block]:
    how = manifest.commentary.source
    blocks: list[Block] = []
    if how in ("note", "note-or-abstract"):
        tag = manifest.commentary.note_tag.casefold()
        for note in notes:
            if note.item_type == "note" and any(t.casefold() == tag for t in note.tags):
                blocks += html_to_blocks(str(note.data.get("note", "")), role=COMMENTARY)
        if blocks or how == "note":
            return blocks
    if how == "none":
        return []
    return text_to_blocks(str(item.data.get("abstractNote") or ""), role=COMMENTARY)


# -- selection --------------------------------------------------------------------------

def _resolve(store: Store, lib: Library, ref: str, root: Collection | None) -> Collection:
    if root is not None:
        try:
            return store.resolve_collection(lib, f"{root.path}/{ref.strip().strip('/')}")
        except NotFoundError:
            pass
    return store.resolve_collection(lib, ref)


def _auto_children(colls: list[Collection], parent: Collection) -> list[ResolvedPart]:
    # store.collections() lists siblings by name already.
    return [ResolvedPart(c, c.name, "", _auto_children(colls, c)) for c in colls if c.parent_key == parent.key]


def resolve_parts(store: Store, lib: Library, manifest: Manifest,
                  collections: Sequence[str] | None = None) -> list[ResolvedPart]:
    """The part tree: ``collections`` (CLI) win, then the manifest's parts, then the
    sub-collections of ``source.collection`` by name."""
    colls = store.collections(lib)
    where = f" (in {manifest.path})" if manifest.path else ""
    root = None
    if manifest.source.collection:
        try:
            root = store.resolve_collection(lib, manifest.source.collection)
        except NotFoundError as exc:
            raise NotFoundError(f"{exc.message.rstrip('.')} — named by source.collection{where}.") from exc
    if collections:
        out = []
        for ref in collections:
            coll = _resolve(store, lib, ref, root)
            out.append(ResolvedPart(coll, coll.name, "", _auto_children(colls, coll)))
        return out

    def from_manifest(parts: list[Part], parent: Collection | None) -> list[ResolvedPart]:
        out = []
        for part in parts:
            try:
                coll = _resolve(store, lib, part.collection, parent or root)
            except NotFoundError as exc:
                raise NotFoundError(f"{exc.message.rstrip('.')} — named by a part's collection{where}; "
                                    "fix the path (see 'zotcurate collections').") from exc
            children = from_manifest(part.parts, coll) if part.parts else _auto_children(colls, coll)
            out.append(ResolvedPart(coll, part.heading if part.heading is not None else coll.name,
                                    part.intro, children))
        return out

    if manifest.parts:
        return from_manifest(manifest.parts, None)
    if root is not None:
        return [ResolvedPart(root, None, "", _auto_children(colls, root))]
    raise ConfigError("No collection to render: give --collection PATH, or 'parts' or "
                      f"'source.collection' in the manifest{where}.")


def _walk(parts: list[ResolvedPart]) -> list[ResolvedPart]:
    out = []
    for p in parts:
        out.append(p)
        out += _walk(p.children)
    return out


# -- the whole document -----------------------------------------------------------------

def _wanted(item: Item, manifest: Manifest) -> bool:
    tags = {t.casefold() for t in item.tags}
    if manifest.include_tags and not tags & {t.casefold() for t in manifest.include_tags}:
        return False
    return not tags & {t.casefold() for t in manifest.exclude_tags}


def _cited_keys(texts: list[str]) -> list[str]:
    return [key for text in texts for key in cited_keys(text)]


def _intro_texts(manifest: Manifest, parts: list[ResolvedPart]) -> list[str]:
    return [manifest.preamble, manifest.introduction] + [p.intro for p in _walk(parts)]


def build_document(store: Store, lib: Library, manifest: Manifest, *, collections: Sequence[str] | None = None,
                   sort: str | None = None, style: str | None = None, toc: bool | None = None,
                   formatter: CitationFormatter | None = None, history: LinkHistory | None = None) -> RenderResult:
    """The Document for ``manifest`` from the items of ``lib`` (library-level entry point).

    ``history``: where the link-check sentence's date comes from (default: ``lib`` in ``store``)."""
    how = sort or manifest.sort
    if how not in SORTS:
        raise ConfigError(f"Unknown sort '{how}'; use one of {', '.join(SORTS)}.")
    fmt = formatter or CitationFormatter(style=style or manifest.style, locale=manifest.locale)
    parts = resolve_parts(store, lib, manifest, collections)
    problems: list[str] = []

    # Entries per part, and every item the document cites, formatted in one pass.
    members: dict[str, list[Item]] = {}
    needed: dict[str, Item] = {}
    for part in _walk(parts):
        chosen = [i for i in store.items(lib, collections=[part.collection.key]) if _wanted(i, manifest)]
        members[part.collection.key] = chosen
        for item in chosen:
            needed[item.key] = item
    cited = _cited_keys(_intro_texts(manifest, parts))
    missing = [k for k in dict.fromkeys(cited) if k not in needed]
    if missing:
        for item in store.items(lib, keys=missing):
            needed[item.key] = item
        unknown = [k for k in missing if k not in needed]
        if unknown:
            where = f"{manifest.path}" if manifest.path else "The manifest"
            raise NotFoundError(f"{where} cites [@{unknown[0]}], but the library {lib.name} has no such item "
                                "(or it is in the trash); fix the key (Zotero's 8-character item key).")

    entries: dict[str, _Entry] = {}
    csl_items: list[dict[str, Any]] = []
    for key, item in needed.items():
        try:
            csl_items.append(zotero_to_csl(item.data))
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the bibliography
            problems.append(f"Item {key} was skipped: its data cannot be mapped to CSL ({exc}).")
    by_id = {str(c.get("id")): c for c in csl_items}
    for formatted in fmt.format_entries(csl_items):
        key = str(formatted.id)
        item = needed.get(key)
        if item is None:
            continue
        if formatted.error or formatted.spans is None:
            title = str(item.data.get("title") or "")[:60]
            why = (formatted.error or "no citation").rstrip(".")
            problems.append(f"Item {key} ({title or 'untitled'}) was skipped: {why}.")
            continue
        csl = by_id.get(key, {})
        entries[key] = _Entry(item, csl, clean_spans(list(formatted.spans)), _date_parts(csl))

    # Footnotes take the style's note form (the same as the bibliography form for the centre's style,
    # different for note styles such as Chicago notes).
    note_spans: dict[str, list[Span]] = {}
    cited_csl = [by_id[k] for k in dict.fromkeys(cited) if k in by_id and k in entries]
    for formatted in fmt.format_entries(cited_csl, mode="note") if cited_csl else []:
        if formatted.spans is not None and not formatted.error:
            note_spans[str(formatted.id)] = clean_spans(list(formatted.spans))

    doc = Document(title=manifest.title, subtitle=manifest.subtitle, authors=list(manifest.authors),
                   date=manifest.date, date_text=title_date(manifest.date, manifest.locale),
                   organisation=manifest.organisation, short_title=manifest.short_title, lang=manifest.locale,
                   toc=manifest.toc if toc is None else toc, toc_title=manifest.labels.toc)
    skipped_cites: set[str] = set()

    def cite(key: str, inline: bool = False) -> list[Inline]:
        entry = entries.get(key)
        if entry is None:
            skipped_cites.add(key)  # already reported as a problem above
            return []
        # In a footnote or a caption the link text follows the citation on the same line.
        spans = [*note_spans.get(key, entry.spans), Span(" "), access_span(entry.csl, manifest)]
        return list(spans) if inline else [doc.add_footnote(spans)]

    def prose(text: str, role: str, level: int) -> list[Block]:
        return markdown_to_blocks(text, cite=cite, role=role, heading_level=level) if text.strip() else []

    if manifest.preamble.strip():
        doc.blocks.append(Heading(1, [Span(manifest.labels.preamble)]))
        doc.blocks += prose(manifest.preamble, PREAMBLE, 2)
    notice = _link_check_notice(history or LinkHistory(store, lib), manifest, members)
    if manifest.introduction.strip() or notice:
        doc.blocks.append(Heading(1, [Span(manifest.labels.introduction)]))
        doc.blocks += prose(manifest.introduction, BODY, 2)
        if notice:
            doc.blocks.append(notice)

    children = store.children_by_parent(lib) if manifest.commentary.source != "abstract" else {}
    count = 0

    def lay_out(part: ResolvedPart, level: int) -> None:
        nonlocal count
        below = level
        if part.heading is not None:
            doc.blocks.append(Heading(level, [Span(clean_text(part.heading))], anchor=part.collection.key))
            below = level + 1
        doc.blocks.extend(prose(part.intro, BODY, below))
        chosen = [entries[i.key] for i in members[part.collection.key] if i.key in entries]
        if chosen and manifest.labels.entries:
            doc.blocks.append(Heading(below, [Span(manifest.labels.entries)]))
        for entry in sort_entries(chosen, how):
            key = entry.item.key
            doc.blocks.append(Paragraph(list(entry.spans), role=CITATION, key=key))
            doc.blocks.append(Paragraph([access_span(entry.csl, manifest)], role=LINK, key=key))
            for block in commentary_blocks(entry.item, children.get(key, []), manifest):
                block.key = key
                doc.blocks.append(block)
            count += 1
        for child in part.children:
            lay_out(child, below)

    for part in parts:
        lay_out(part, 1)
    return RenderResult(doc, count, problems)


def _link_check_notice(history: LinkHistory, manifest: Manifest,
                       members: dict[str, list[Item]]) -> Paragraph | None:
    """"Tous les liens … vérifiés pour la dernière fois le 3 mai 2025." — only when the
    link audit (``zotcurate links``) has a history for these items."""
    if not manifest.labels.link_check:
        return None
    keys = sorted({i.key for items in members.values() for i in items})
    when = history.last_checked(keys) if keys else None
    if not when:
        return None
    try:
        text = manifest.labels.link_check.replace("{date}", french_date(str(when)))
    except ValueError:
        return None
    return Paragraph([Span(text)], role=NOTICE)


# -- files ------------------------------------------------------------------------------

def open_user_store(path: Path, *, required: bool) -> Store | None:
    """The user's store, read-only (render never writes it); None when the file does not exist
    and it is not ``required`` (a manifest's files need no store)."""
    if not path.is_file():
        if required:
            raise NotFoundError(f"The store {path} does not exist, so it has no library to render; run "
                                "'zotcurate sync' (or 'zotcurate import') first, or point --store at your store.")
        return None
    return Store(path, read_only=True)


def _files_library_name(manifest: Manifest) -> str:
    safe = re.sub(r"[^\w.-]+", "-", manifest.output_name)
    return manifest.source.library or f"file:{safe}"


@contextmanager
def open_source(store: Store | None, manifest: Manifest, library: str | None) -> Iterator[RenderSource]:
    """The library to render. A manifest's files are read into a scratch in-memory store, so the
    user's ``store`` is never written; it still gives the link history of the library of that name."""
    if manifest.source.files and not library:
        name = _files_library_name(manifest)
        with Store(":memory:") as scratch:
            import_files(scratch, LibraryRef.parse(name), list(manifest.source.files))
            audited = store.library(name) if store is not None else None
            yield RenderSource(scratch, scratch.require_library(name),
                               LinkHistory(store, audited) if store is not None and audited is not None else None)
        return
    wanted = library or manifest.source.library
    if not wanted:
        raise ConfigError("No library given: pass --library, or set source.library in the manifest.")
    if store is None:
        raise NotFoundError(f"There is no store, so no library '{wanted}'; run 'zotcurate sync' (or "
                            "'zotcurate import') first, or point --store at your store.")
    lib = store.require_library(LibraryRef.parse(wanted).name)
    yield RenderSource(store, lib, LinkHistory(store, lib))


def check_writers(fmts: Sequence[str], templates: Sequence[Path] = ()) -> list[tuple[Writer, WriteOptions]]:
    """The writers for ``fmts`` with their options (each template goes to the format of its suffix),
    each having checked them (e.g. the template): fails before any work."""
    chosen = writers_for(fmts)
    options = options_for(chosen, templates)
    for writer in chosen:
        writer.check(options[writer.name])
    return [(w, options[w.name]) for w in chosen]


def write_outputs(doc: Document, output_dir: Path, name: str, fmts: Sequence[str], *,
                  templates: Sequence[Path] = ()) -> list[Path]:
    """Write each format as ``output_dir/name<suffix>``, each through a temporary file."""
    chosen = check_writers(fmts, templates)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        return [w.write(doc, output_dir / f"{name}{w.suffix}", options) for w, options in chosen]
    except OSError as exc:
        raise RenderError(f"The documents cannot be written to {output_dir} ({exc.strerror or exc}); "
                          "choose another --output folder.") from exc


def render_bibliography(store: Store | None, manifest: Manifest, *, output_dir: Path, library: str | None = None,
                        collections: Sequence[str] | None = None, style: str | None = None,
                        fmts: Sequence[str] | None = None, templates: Sequence[Path] = (),
                        sort: str | None = None, toc: bool | None = None) -> RenderOutcome:
    """What ``zotcurate render`` does: source → Document → files. ``store`` (the user's, or None
    when there is none) is only read."""
    fmt_list = list(fmts or manifest.formats)
    tpls = list(templates or manifest.templates)
    check_writers(fmt_list, tpls)  # fail before any work
    formatter = CitationFormatter(style=style or manifest.style, locale=manifest.locale)
    with open_source(store, manifest, library) as source:
        result = build_document(source.store, source.library, manifest, collections=collections, sort=sort,
                                toc=toc, formatter=formatter, history=source.history)
    paths = write_outputs(result.document, output_dir, manifest.output_name, fmt_list, templates=tpls)
    return RenderOutcome(paths, result.entries, result.problems)


__all__ = ["LinkHistory", "RenderOutcome", "RenderResult", "RenderSource", "build_document", "french_date",
           "open_source", "open_user_store", "render_bibliography", "resolve_parts", "sort_entries",
           "title_date", "write_outputs"]
