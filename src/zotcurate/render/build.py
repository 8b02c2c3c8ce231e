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

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
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
    CoverLayout,
    Document,
    Heading,
    Inline,
    Paragraph,
    Picture,
    Span,
    clean_spans,
    clean_text,
    plain,
)
from zotcurate.errors import ConfigError, NotFoundError, RenderError
from zotcurate.fields import FRENCH_MONTHS, doi_url, extra_lines, parse_date, read_doi, title_of, url_problem
from zotcurate.formats.csljson import zotero_to_csl
from zotcurate.formats.files import import_files
from zotcurate.links.extract import links_of_items
from zotcurate.model import Collection, Item, Library, LibraryRef
from zotcurate.render.citations import CitationFormatter
from zotcurate.render.covers import PDF_TYPE, CoverJob, can_cover, make_thumbnails
from zotcurate.render.manifest import SORTS, Manifest, Part
from zotcurate.render.markup import cited_keys, html_to_blocks, markdown_to_blocks, text_to_blocks
from zotcurate.render.typography import apply_french_typography, is_french, separate_footnote_calls
from zotcurate.store import Store
from zotcurate.writers import WriteOptions, Writer, options_for, writers_for


@dataclass
class ResolvedPart:
    collection: Collection
    heading: str | None  # None: no heading (the root of an unstructured selection)
    intro: str = ""
    children: list[ResolvedPart] = field(default_factory=list)


@dataclass
class LinkCheckOutcome:
    """Whether the link-check sentence was printed, and if not, why (``links``: the links that
    stopped it). ``finding``: the omission is a finding (exit 1), not merely "no audit yet"."""

    printed: bool
    reason: str = ""
    links: list[str] = field(default_factory=list)
    finding: bool = False


@dataclass(frozen=True)
class OnRequest:
    """An item printed "Disponible sur demande" (no URL, no DOI)."""

    key: str
    label: str  # "KEY (title)"
    says_online: bool  # its Extra says bib-access: online: the URL was lost
    entry: bool  # listed as an entry (otherwise only in a footnote or a caption)


@dataclass
class RenderResult:
    document: Document
    entries: int  # entry blocks written (an item in two parts counts twice)
    problems: list[str] = field(default_factory=list)  # one sentence per skipped item
    warnings: list[str] = field(default_factory=list)  # data to fix; the item is printed all the same
    on_request: list[OnRequest] = field(default_factory=list)  # items printed "Disponible sur demande"
    link_check: LinkCheckOutcome = field(default_factory=lambda: LinkCheckOutcome(False))
    note_keys: dict[int, str] = field(default_factory=dict)  # footnote number → the item it cites
    languages: dict[str, str] = field(default_factory=dict)  # item key → its language field
    cover_warnings: list[str] = field(default_factory=list)  # entries printed without the cover their file should give


@dataclass(frozen=True)
class LinkHistory:
    """Where the link audit of the rendered library is recorded: the user's store, also when
    the items themselves come from files read into a scratch store."""

    store: Store
    library: Library

    def latest_checks(self, item_keys: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
        """The latest recorded check of each (item key, address) of these items."""
        history = self.store.link_history(self.library, list(item_keys))
        return {link: checks[-1] for link, checks in history.items() if checks}


@dataclass
class RenderSource:
    store: Store  # where the items are read: the user's store, or a scratch store holding the files
    library: Library
    history: LinkHistory | None  # None: no link history (files never audited, or no user store)
    import_warnings: tuple[str, ...] = ()  # what reading the manifest's files said (a skipped BibTeX entry…)


@dataclass
class RenderOutcome:
    paths: list[Path]
    entries: int
    problems: list[str]
    warnings: list[str] = field(default_factory=list)
    on_request: list[OnRequest] = field(default_factory=list)
    link_check: LinkCheckOutcome = field(default_factory=lambda: LinkCheckOutcome(False))
    import_warnings: list[str] = field(default_factory=list)  # reading the manifest's files
    cover_warnings: list[str] = field(default_factory=list)


# -- dates ----------------------------------------------------------------------------------

def french_date(iso: str) -> str:
    """``2025-05-03T10:00:00Z`` → ``3 mai 2025`` (``1er`` for the first of the month); ValueError
    when ``iso`` is not a full date."""
    when = parse_date(iso)
    if when.problem or when.day is None or when.month is None:
        raise ValueError(f"not a full date: {iso!r}")
    day = "1er" if when.day == 1 else str(when.day)
    return f"{day} {FRENCH_MONTHS[when.month - 1]} {when.year}"


def date_in_words(value: str, locale: str) -> str:
    """The manifest's date as a French title page prints it: ``2025-07`` → ``juillet 2025``,
    ``2025-07-03`` → ``3 juillet 2025``; anything else (and any other locale) unchanged."""
    when = parse_date(value or "")
    if not is_french(locale) or not when.iso or when.problem or when.month is None:
        return value
    if when.day is not None:
        return french_date(value)
    return f"{FRENCH_MONTHS[when.month - 1]} {when.year}"


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
        dated.sort(key=lambda e: e.when or (0, 0, 0), reverse=(how == "date"))  # stable: ties keep text order
        return dated + undated
    if how == "title":
        return sorted(entries, key=lambda e: ((title_of(e.item.data) or "").casefold(), e.item.key))
    return sorted(entries, key=text_key)


# -- the pieces of an entry -------------------------------------------------------------

@dataclass
class _Entry:
    item: Item
    csl: dict[str, Any]
    spans: list[Span]
    when: tuple[int, int, int] | None


def access_span(csl: dict[str, Any], manifest: Manifest) -> Span:
    """"Accéder au document" → URL, else the DOI's address; else "Disponible sur demande" → contact.
    A URL or DOI that ``check`` rejects (and ``links`` cannot follow) is not offered as a link."""
    url = clean_text(str(csl.get("URL") or "").strip())
    doi = read_doi(str(csl.get("DOI") or "")).doi
    if url and url_problem(url) is None:
        return Span(manifest.access.online, url=url)
    if doi:
        return Span(manifest.access.online, url=doi_url(doi))
    return Span(manifest.access.on_request, url=manifest.access.contact)


def _alnum(text: str) -> str:
    return re.sub(r"\W+", "", text.casefold().replace("’", "'"))


def style_prints(spans: Sequence[Span], csl: dict[str, Any]) -> set[str]:
    """What of the item's access the citation itself shows: ``url``, ``doi`` (APA, ISO 690…)."""
    text = plain(list(spans)).casefold()
    targets = {str(s.url).casefold().rstrip("/") for s in spans if s.url}
    out = set()
    url = str(csl.get("URL") or "").strip().casefold().rstrip("/")
    if url and (url in text or url in targets):
        out.add("url")
    doi = (read_doi(str(csl.get("DOI") or "")).doi or "").casefold()
    if doi and (doi in text or any(doi in t for t in targets)):
        out.add("doi")
    return out


def style_prints_abstract(spans: Sequence[Span], csl: dict[str, Any]) -> bool:
    """Whether the citation already contains the item's abstract (ISO 690 styles print it)."""
    abstract = _alnum(str(csl.get("abstract") or ""))[:80]
    return len(abstract) >= 20 and abstract in _alnum(plain(list(spans)))


def link_line_wanted(spans: Sequence[Span], csl: dict[str, Any], manifest: Manifest) -> bool:
    """``always``; ``never``; ``auto``: unless the citation already shows the URL or DOI the line
    would point at (an item "Disponible sur demande" always keeps its line)."""
    how = manifest.access.link_line
    if how != "auto":
        return how == "always"
    shown = style_prints(spans, csl)
    if str(csl.get("URL") or "").strip():
        return "url" not in shown
    if str(csl.get("DOI") or "").strip():
        return "doi" not in shown
    return True


def _printed_kinds(spans: Sequence[Span], csl: dict[str, Any], line: bool) -> set[str]:
    """Which of the item's addresses the document prints: the link line's, and the style's own."""
    kinds = style_prints(spans, csl)
    if line and str(csl.get("URL") or "").strip():
        kinds.add("url")
    elif line and str(csl.get("DOI") or "").strip():
        kinds.add("doi")
    return kinds


def _says_online(item: Item) -> bool:
    return any(v.strip().casefold() == "online"
               for v in extra_lines(str(item.data.get("extra") or "")).get("bib-access", []))


def _describe(item: Item) -> str:
    title = str(item.data.get("title") or item.data.get("nameOfAct") or item.data.get("caseName") or "")
    title = " ".join(title.split())
    return f"{item.key} ({title[:60] + ('…' if len(title) > 60 else '') if title else 'untitled'})"


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


# -- covers -----------------------------------------------------------------------------

COVER_TAG = "zotcurate:cover"
COVER_DPI = 200  # thumbnails are made for print at this resolution


def cover_pixels(width_mm: float) -> int:
    return round(width_mm / 25.4 * COVER_DPI)


def choose_cover(children: Sequence[Item], files: dict[str, dict[str, Any]]) -> tuple[Item, dict[str, Any]] | None:
    """The attachment whose file gives the item's cover: the one tagged ``zotcurate:cover``, else
    the first PDF (by date added), else the first image; only attachments whose file is stored."""
    best: tuple[tuple[int, str, str], Item, dict[str, Any]] | None = None
    for child in children:
        row = files.get(child.key)
        if child.item_type != "attachment" or child.trashed or not row or row.get("status") != "stored":
            continue
        ctype = str(row.get("content_type") or child.data.get("contentType") or "").lower()
        if not row.get("path") or not can_cover(ctype):
            continue
        tagged = any(t.strip().casefold() == COVER_TAG for t in child.tags)
        rank = (0 if tagged else 1 if ctype == PDF_TYPE else 2, str(child.data.get("dateAdded") or ""), child.key)
        if best is None or rank < best[0]:
            best = (rank, child, row)
    return None if best is None else (best[1], best[2])


def cover_pictures(store: Store, lib: Library, chosen: Sequence[_Entry], children: dict[str, list[Item]],
                   manifest: Manifest, cache: Path | None, warnings: list[str]) -> dict[str, Picture]:
    """Each entry's cover thumbnail (item key → Picture); a file that gives none is a warning."""
    folder = store.files_dir
    files = store.attachment_files(lib) if folder is not None else {}
    if not files or folder is None:
        return {}
    jobs: list[CoverJob] = []
    sources: dict[str, tuple[_Entry, dict[str, Any]]] = {}
    for entry in chosen:
        found = choose_cover(children.get(entry.item.key, []), files)
        if found is None:
            continue
        attachment, row = found
        ctype = str(row.get("content_type") or attachment.data.get("contentType") or "")
        jobs.append(CoverJob(entry.item.key, folder / str(row["path"]), ctype, row.get("content_md5")))
        sources[entry.item.key] = (entry, row)
    made, failed = make_thumbnails(jobs, cache or folder / "thumbnails", cover_pixels(manifest.covers.width_mm))
    for key, why in sorted(failed.items()):
        entry, row = sources[key]
        warnings.append(f"Item {_describe(entry.item)} is printed without its cover: its attachment "
                        f"{row.get('filename') or row.get('item_key')} gives none ({why}).")
    out: dict[str, Picture] = {}
    for key, thumb in made.items():
        entry = sources[key][0]
        link = access_span(entry.csl, manifest).url
        title = " ".join(clean_text(title_of(entry.item.data) or "").split())
        out[key] = Picture(str(thumb.path), thumb.width, thumb.height, alt=title or key,
                           url=link if link and link != manifest.access.contact else None,
                           mime=thumb.mime, name=f"{key}{thumb.path.suffix}")
    return out


def _cover_cache(store: Store, stack: ExitStack) -> Path | None:
    """Where thumbnails are kept: the store's files folder (beside the store, never the store
    itself), or a temporary folder for this render when that one cannot be written."""
    folder = store.files_dir
    if folder is None or not folder.is_dir():
        return None
    cache = folder / "thumbnails"
    try:
        cache.mkdir(exist_ok=True)
        if os.access(cache, os.W_OK):
            return cache
    except OSError:
        pass
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zotcurate-covers-")))


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
                   formatter: CitationFormatter | None = None, history: LinkHistory | None = None,
                   covers: bool | None = None, cover_cache: Path | None = None) -> RenderResult:
    """The Document for ``manifest`` from the items of ``lib`` (library-level entry point).

    ``history``: where the link-check sentence's date comes from (default: ``lib`` in ``store``).
    ``covers``: a cover thumbnail beside each entry (default: the manifest's ``[covers] enabled``),
    made from the attachment files ``sync --files`` stored, cached in ``cover_cache`` (default: a
    ``thumbnails`` folder in the store's files folder)."""
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
        except Exception as exc:
            problems.append(f"Item {key} was skipped: its data cannot be mapped to CSL ({exc}).")
    by_id = {str(c.get("id")): c for c in csl_items}
    for formatted in fmt.format_entries(csl_items):
        key = str(formatted.id)
        found = needed.get(key)
        if found is None:
            continue
        item = found
        if formatted.error or formatted.spans is None:
            title = (title_of(item.data) or "")[:60]
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
                   date=manifest.date, date_text=date_in_words(manifest.date, manifest.locale),
                   organisation=manifest.organisation, short_title=manifest.short_title, lang=manifest.locale,
                   toc=manifest.toc if toc is None else toc, toc_title=manifest.labels.toc)
    skipped_cites: set[str] = set()
    note_keys: dict[int, str] = {}
    printed: dict[str, set[str]] = {}  # item key → the kinds of address ("url", "doi") the document prints
    on_request: dict[str, OnRequest] = {}
    warnings: list[str] = []

    def access(entry: _Entry, spans: Sequence[Span], in_entry: bool) -> Span | None:
        """The link line (or the link text after a note's citation), or None when it is left out."""
        line = link_line_wanted(spans, entry.csl, manifest)
        printed.setdefault(entry.item.key, set()).update(_printed_kinds(spans, entry.csl, line))
        if not line:
            return None
        span = access_span(entry.csl, manifest)
        if not str(entry.csl.get("URL") or "").strip() and not str(entry.csl.get("DOI") or "").strip():
            key = entry.item.key
            known = on_request.get(key)
            if known is None:
                known = OnRequest(key, _describe(entry.item), _says_online(entry.item), in_entry)
                if known.says_online:
                    warnings.append(f"Item {known.label} is printed \"{manifest.access.on_request}\", but its "
                                    "Extra says bib-access: online: its URL is missing. Add the URL (or DOI) in "
                                    "Zotero, or change the line to bib-access: on-request.")
            on_request[key] = replace(known, entry=known.entry or in_entry)
        return span

    def cite(key: str, inline: bool = False) -> list[Inline]:
        entry = entries.get(key)
        if entry is None:
            skipped_cites.add(key)  # already reported as a problem above
            return []
        # In a footnote or a caption the link text follows the citation on the same line.
        citation = note_spans.get(key, entry.spans)
        link = access(entry, citation, False)
        spans = [*citation, Span(" "), link] if link is not None else list(citation)
        if inline:
            return list(spans)
        ref = doc.add_footnote(spans)
        note_keys[ref.number] = key
        return [ref]

    def prose(text: str, role: str, level: int) -> list[Block]:
        return markdown_to_blocks(text, cite=cite, role=role, heading_level=level) if text.strip() else []

    if manifest.preamble.strip():
        doc.blocks.append(Heading(1, [Span(manifest.labels.preamble)]))
        doc.blocks += prose(manifest.preamble, PREAMBLE, 2)
    # The link-check sentence closes the introduction; what it may say is known once every
    # link has been laid out, so its place is kept and it is filled in at the end.
    notice_at: int | None = None
    if manifest.introduction.strip() or manifest.labels.link_check:
        intro = [Heading(1, [Span(manifest.labels.introduction)]), *prose(manifest.introduction, BODY, 2)]
        doc.blocks += intro
        notice_at = len(doc.blocks)
        has_intro_text = len(intro) > 1

    use_covers = manifest.covers.enabled if covers is None else covers
    children = store.children_by_parent(lib) if manifest.commentary.source != "abstract" or use_covers else {}
    pictures: dict[str, Picture] = {}
    cover_warnings: list[str] = []
    if use_covers:
        doc.covers = CoverLayout(manifest.covers.width_mm, manifest.covers.position)
        listed = {i.key for chosen in members.values() for i in chosen if i.key in entries}
        pictures = cover_pictures(store, lib, [entries[k] for k in sorted(listed)], children, manifest,
                                  cover_cache, cover_warnings)
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
            doc.blocks.append(Paragraph(list(entry.spans), role=CITATION, key=key, image=pictures.get(key)))
            link = access(entry, entry.spans, True)
            if link is not None:
                doc.blocks.append(Paragraph([link], role=LINK, key=key))
            commentary = commentary_blocks(entry.item, children.get(key, []), manifest)
            if commentary and _is_abstract(entry.item, commentary, manifest) and \
                    style_prints_abstract(entry.spans, entry.csl):
                commentary = []  # the style printed the abstract inside the citation already
            for block in commentary:
                if not isinstance(block, Heading):
                    block.key = key
                doc.blocks.append(block)
            count += 1
        for child in part.children:
            lay_out(child, below)

    for part in parts:
        lay_out(part, 1)

    outcome = LinkCheckOutcome(False)
    if notice_at is not None:
        rendered = {k: entries[k].item for k in printed if k in entries}
        notice, outcome = link_check_notice(history or LinkHistory(store, lib), manifest, rendered, printed)
        if notice is not None:
            doc.blocks.insert(notice_at, notice)
        elif not has_intro_text:
            del doc.blocks[notice_at - 1]  # an Introduction heading over nothing
    languages = {k: str(e.item.data.get("language") or "") for k, e in entries.items()}
    return RenderResult(doc, count, problems, warnings, list(on_request.values()), outcome, note_keys, languages,
                        cover_warnings)


def _is_abstract(item: Item, commentary: list[Block], manifest: Manifest) -> bool:
    """Whether these commentary blocks are the item's abstract (not a child note)."""
    if manifest.commentary.source == "abstract":
        return True
    if manifest.commentary.source != "note-or-abstract":
        return False
    def texts(blocks: list[Block]) -> list[str]:
        return ["".join(s.text for s in b.spans if isinstance(s, Span)) for b in blocks if isinstance(b, Paragraph)]

    return texts(text_to_blocks(str(item.data.get("abstractNote") or ""), role=COMMENTARY)) == texts(commentary)


# The verdicts after which a link cannot be said to have been checked and found working.
_FAILED = ("broken", "invalid")


def link_check_notice(history: LinkHistory, manifest: Manifest, items: dict[str, Item],
                      printed: dict[str, set[str]]) -> tuple[Paragraph | None, LinkCheckOutcome]:
    """"Tous les liens … vérifiés pour la dernière fois le 3 mai 2025.", only when it is true.

    Every address the document prints (link lines, and a URL or DOI the style prints itself)
    must have a recorded check, the latest check of none of them may be broken, and the date
    is the oldest of those latest checks: every link was checked on that day or after."""
    if not manifest.labels.link_check:
        return None, LinkCheckOutcome(False, "the manifest sets labels.link_check to \"\"")
    links = [link for link in links_of_items(items.values()) if link.kind in printed.get(link.item_key, set())]
    if not links:
        return None, LinkCheckOutcome(False, "the document prints no link")
    latest = history.latest_checks(sorted({link.item_key for link in links}))
    unchecked = [link for link in links if (link.item_key, link.url) not in latest]
    if len(unchecked) == len(links):
        return None, LinkCheckOutcome(False, "no link audit has been recorded for these links "
                                             "(run 'zotcurate links' on this library)")
    if unchecked:
        return None, LinkCheckOutcome(False, f"{len(unchecked)} of the {len(links)} links printed have never been "
                                             "checked (run 'zotcurate links' again)",
                                      [f"{link.item_key} {link.url}" for link in unchecked], finding=True)
    checks = [latest[(link.item_key, link.url)] for link in links]
    failed = [(link, check) for link, check in zip(links, checks, strict=True) if check.get("verdict") in _FAILED]
    if failed:
        return None, LinkCheckOutcome(False, f"{len(failed)} of the {len(links)} links printed failed their latest "
                                             "check (fix them in Zotero, then run 'zotcurate links' again)",
                                      [f"{link.item_key} {link.url} ({check.get('verdict')}, "
                                       f"{str(check.get('checked_at'))[:10]})" for link, check in failed],
                                      finding=True)
    oldest = min(str(c["checked_at"]) for c in checks)
    try:
        text = manifest.labels.link_check.replace("{date}", french_date(oldest))
    except ValueError:
        return None, LinkCheckOutcome(False, f"the recorded check date '{oldest}' cannot be read", finding=True)
    return Paragraph([Span(text)], role=NOTICE), LinkCheckOutcome(True)


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
            imported = import_files(scratch, LibraryRef.parse(name), list(manifest.source.files))
            audited = store.library(name) if store is not None else None
            yield RenderSource(scratch, scratch.require_library(name),
                               LinkHistory(store, audited) if store is not None and audited is not None else None,
                               tuple(imported.warnings))
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
                        sort: str | None = None, toc: bool | None = None,
                        covers: bool | None = None) -> RenderOutcome:
    """What ``zotcurate render`` does: source → Document → files. ``store`` (the user's, or None
    when there is none) is only read; cover thumbnails are cached beside it."""
    fmt_list = list(fmts or manifest.formats)
    tpls = list(templates or manifest.templates)
    check_writers(fmt_list, tpls)  # fail before any work
    formatter = CitationFormatter(style=style or manifest.style, locale=manifest.locale)
    with ExitStack() as stack:  # a temporary thumbnail folder lives until the documents are written
        with open_source(store, manifest, library) as source:
            use_covers = manifest.covers.enabled if covers is None else covers
            cache = _cover_cache(source.store, stack) if use_covers else None
            result = build_document(source.store, source.library, manifest, collections=collections, sort=sort,
                                    toc=toc, formatter=formatter, history=source.history, covers=use_covers,
                                    cover_cache=cache)
        doc = finish_document(result, manifest)
        paths = write_outputs(doc, output_dir, manifest.output_name, fmt_list, templates=tpls)
    return RenderOutcome(paths, result.entries, result.problems, result.warnings, result.on_request,
                         result.link_check, list(source.import_warnings), result.cover_warnings)


def finish_document(result: RenderResult, manifest: Manifest) -> Document:
    """The document every writer gets: footnote calls that follow each other separated, and
    French typography where the text is French (the manifest's ``french_spaces``)."""
    doc = separate_footnote_calls(result.document)
    return apply_french_typography(doc, manifest.french_spaces, item_languages=result.languages,
                                   note_keys=result.note_keys)


__all__ = ["LinkCheckOutcome", "LinkHistory", "OnRequest", "RenderOutcome", "RenderResult", "RenderSource",
           "build_document", "date_in_words", "finish_document", "french_date", "link_check_notice", "open_source",
           "open_user_store", "render_bibliography", "resolve_parts", "sort_entries", "write_outputs"]
