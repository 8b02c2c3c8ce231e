"""Document → a web edition: one self-contained HTML5 page.

Everything is inside the file (the stylesheet is inline, cover thumbnails are embedded as
``data:`` URIs; no font, script or image is fetched), so the page can be put on a site,
mailed or opened offline. It reads on a phone (fluid width, no horizontal scrolling), prints
cleanly (a print stylesheet: A4,
each part on a new page, entries kept whole, link targets written out), and a colleague
can link to any entry: each has an ``id`` (the Zotero item key). Footnote calls and notes
link to each other both ways.

All user text is escaped; only ``http:``, ``https:`` and ``mailto:`` URLs become links
(anything else prints as text).
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
from pathlib import Path

from zotcurate.document import (
    BODY,
    CITATION,
    COMMENTARY,
    LINK,
    NOTICE,
    PREAMBLE,
    Document,
    FootnoteRef,
    Heading,
    Inline,
    ListBlock,
    Paragraph,
    Picture,
    Span,
    clean_text,
    link_groups,
    link_target,
)
from zotcurate.fileio import write_text_atomic
from zotcurate.writers.base import Entry, WriteOptions, with_entries

# Paragraph role → CSS class.
ROLE_CLASSES: dict[str, str] = {
    BODY: "texte",
    PREAMBLE: "preambule",
    NOTICE: "mention",
    CITATION: "citation",
    LINK: "lien",
    COMMENTARY: "commentaire",
}
_SPACES = re.compile(r"[ \t\n]+")  # not \s: non-breaking spaces are typography and must stay
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")

STYLESHEET = """
:root { --accent: #1d4e89; --muted: #555; --rule: #c9d3df; --tint: #f2f5f9; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0 auto; max-width: 46rem; padding: 0 1.1rem 3rem; color: #1b1b1b; background: #fff;
       font: 1.0625rem/1.55 Georgia, "Libertinus Serif", "DejaVu Serif", "Times New Roman", serif;
       overflow-wrap: break-word; }
main, .notes { hyphens: auto; -webkit-hyphens: auto; }
a { color: var(--accent); }
h1, h2, h3, h4, h5, h6 { color: var(--accent); line-height: 1.25; font-weight: bold; }
.titre { padding: 2.5rem 0 1.2rem; margin-bottom: 1.5rem; border-bottom: 2px solid var(--accent); }
.titre h1 { font-size: 2rem; margin: 0 0 .5rem; }
.titre p { margin: .2rem 0; }
.titre .sous-titre { font-size: 1.3rem; margin-bottom: 1rem; }
.sommaire { background: var(--tint); padding: .6rem 1.2rem .8rem; border-radius: 4px; margin-bottom: 2rem; }
.sommaire h2 { margin: .4rem 0 .6rem; font-size: 1.3rem; }
.sommaire ol { margin: 0; padding-left: 1.3rem; }
.sommaire li { margin: .25rem 0; }
.sommaire ol ol { font-size: .95em; }
main h2 { font-size: 1.55rem; margin: 2.8rem 0 1rem; padding-bottom: .3rem; border-bottom: 1px solid var(--rule); }
main h3 { font-size: 1.2rem; margin: 1.8rem 0 .8rem; }
main h4, main h5, main h6 { font-size: 1.05rem; margin: 1.4rem 0 .6rem; }
.entree { margin: 1.3rem 0; padding: .1rem 0 .1rem .8rem; border-left: 3px solid var(--rule); }
.entree:target { border-left-color: var(--accent); background: var(--tint); }
.entree .citation { font-weight: bold; margin: 0 0 .2rem; }
.entree .lien { margin: 0 0 .35rem; }
.entree .commentaire { margin: .35rem 0; }
.mention { font-style: italic; color: var(--muted); margin-top: 1.4rem; }
.pc { font-variant: small-caps; }
sup.appel { line-height: 0; }
sup.appel a { text-decoration: none; padding: 0 .1em; }
.notes { font-size: .9rem; margin-top: 3rem; border-top: 1px solid var(--rule); }
.notes h2 { font-size: 1.2rem; }
.notes li { margin: .35rem 0; }
.retour { text-decoration: none; }
.haut { margin-top: 2.5rem; font-size: .9rem; }
@media (max-width: 30rem) {
  body { font-size: 1rem; padding: 0 .85rem 2rem; }
  .titre h1 { font-size: 1.6rem; }
  main h2 { font-size: 1.35rem; }
  .entree { padding-left: .6rem; }
}
@media print {
  @page { size: A4; margin: 2cm 2cm 2.2cm; }
  body { max-width: none; padding: 0; font-size: 10.5pt; line-height: 1.4; }
  a { color: inherit; text-decoration: none; }
  .entree .lien a[href]::after { content: " <" attr(href) ">"; font-size: 85%; word-break: break-all; }
  .titre { break-after: page; border: 0; padding-top: 30%; }
  .sommaire { break-after: page; background: none; padding: 0; }
  main h2 { break-before: page; border: 0; }
  h2, h3, h4, h5, h6 { break-after: avoid; }
  .entree { break-inside: avoid; border: 0; padding: 0; }
  .entree:target { background: none; }
  .retour, .haut { display: none; }
  .notes { break-before: page; border: 0; }
}
"""


def esc(text: str) -> str:
    """User text for HTML content or attribute values; runs of ordinary white space become one space."""
    return html.escape(_SPACES.sub(" ", clean_text(text)), quote=True)


def safe_url(url: str | None) -> str | None:
    """The URL if it may become a link (:func:`~zotcurate.document.link_target`) and holds no
    space (an href cannot carry one), else None."""
    target = link_target(url)
    return target if target is not None and not any(c.isspace() for c in target) else None


def slug(text: str) -> str:
    """A readable id from heading text: ``Données de cadrage`` → ``donnees-de-cadrage``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "section"


def _span(span: Span) -> str:
    out = esc(span.text)
    if not out:
        return ""
    for flag, open_, close in ((span.superscript, "<sup>", "</sup>"), (span.subscript, "<sub>", "</sub>"),
                               (span.smallcaps, '<span class="pc">', "</span>"), (span.italic, "<em>", "</em>"),
                               (span.bold, "<strong>", "</strong>")):
        if flag:
            out = f"{open_}{out}{close}"
    return out


def _plain(spans: list[Span]) -> str:
    return _SPACES.sub(" ", "".join(s.text for s in spans)).strip()


class _Page:
    """One document's HTML: ids (unique in the page), footnote calls and notes."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.ids: set[str] = {"sommaire", "sommaire-titre", "notes", "haut"}
        self.calls: dict[int, list[str]] = {}  # footnote number → the ids of its calls, in order

    def unique(self, wanted: str) -> str:
        candidate, n = wanted, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{wanted}-{n}"
        self.ids.add(candidate)
        return candidate

    def inlines(self, items: list[Inline]) -> str:
        parts: list[str] = []
        for part in link_groups(items, safe_url):
            if isinstance(part, FootnoteRef):
                parts.append(self.call(part.number))
                continue
            url, spans = part
            text = "".join(_span(s) for s in spans)
            parts.append(text if url is None else f'<a href="{esc(url)}">{text}</a>')
        return _SPACES.sub(" ", "".join(parts)).strip()

    def call(self, number: int) -> str:
        ids = self.calls.setdefault(number, [])
        ref = self.unique(f"appel-{number}")
        ids.append(ref)
        return (f'<sup class="appel"><a href="#note-{number}" id="{ref}" role="doc-noteref" '
                f'aria-label="Note {number}">{number}</a></sup>')

    def paragraph(self, block: Paragraph | ListBlock, css: str | None = None) -> str:
        cls = css or ROLE_CLASSES.get(block.role, "texte")
        if isinstance(block, ListBlock):
            tag = "ol" if block.ordered else "ul"
            items = "".join(f"<li>{self.inlines(item)}</li>" for item in block.items)
            return f'<{tag} class="{cls}">{items}</{tag}>'
        content = self.inlines(block.spans)
        return f'<p class="{cls}">{content}</p>' if content else ""

    def entry(self, entry: Entry) -> str:
        ident = self.unique(entry.key or "entree")
        rows = [f'<p class="citation">{self.inlines(entry.citation.spans)}</p>']
        if entry.link is not None:
            rows.append(self.paragraph(entry.link, "lien"))
        rows += [self.paragraph(c, "commentaire") for c in entry.commentary]
        text = "\n".join(r for r in rows if r)
        if self.doc.covers is None:
            return f'<article class="entree" id="{ident}">\n{text}\n</article>'
        # Every entry gets the cover column, empty when it has no cover, so all stay aligned.
        cover = _cover(entry.cover) if entry.cover is not None else ""
        return (f'<article class="entree avec-couverture" id="{ident}">\n<div class="couverture">{cover}</div>\n'
                f'<div class="texte-entree">\n{text}\n</div>\n</article>')

    def notes(self) -> str:
        if not self.doc.footnotes:
            return ""
        rows = []
        for number, spans in self.doc.footnotes.items():
            backs = " ".join(f'<a class="retour" href="#{ref}" role="doc-backlink" '
                             f'aria-label="Retour à l’appel de note {number}">↩</a>'
                             for ref in self.calls.get(number, []))
            rows.append(f'<li id="note-{number}" value="{number}">{self.inlines(list(spans))} {backs}</li>')
        return ('<section class="notes" id="notes" role="doc-endnotes" aria-labelledby="notes-titre">\n'
                '<h2 id="notes-titre">Notes</h2>\n<ol>\n' + "\n".join(rows) + "\n</ol>\n</section>")


def _cover(picture: Picture) -> str:
    """The thumbnail embedded as a data: URI (the page stays self-contained), linked to the document."""
    try:
        data = Path(picture.path).read_bytes()
    except OSError:
        return ""  # the thumbnail went away meanwhile: the entry keeps its empty cover column
    mime = picture.mime if picture.mime in ("image/jpeg", "image/png") else "image/jpeg"
    img = (f'<img src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}" alt="{esc(picture.alt)}" '
           f'width="{int(picture.width)}" height="{int(picture.height)}" loading="lazy">')
    url = safe_url(picture.url)
    return f'<a href="{esc(url)}">{img}</a>' if url else img


def _cover_style(width_mm: float) -> str:
    """The cover column's width, from the document (the manifest's ``[covers] width``)."""
    return (f"\n.avec-couverture {{ display: grid; grid-template-columns: {width_mm:g}mm minmax(0, 1fr); "
            "column-gap: 1.1rem; align-items: start; }\n"
            ".couverture img { display: block; width: 100%; height: auto; border: 1px solid var(--rule); }\n"
            ".couverture a { display: block; }\n.texte-entree > p:first-child { margin-top: 0; }\n"
            f"@media (max-width: 30rem) {{ .avec-couverture {{ grid-template-columns: {min(width_mm, 22):g}mm "
            "minmax(0, 1fr); column-gap: .7rem; } }\n")


def _toc(entries: list[tuple[int, str, str]], title: str) -> str:
    """Nested lists of (level, id, text) — each sub-list inside its parent's item, as HTML requires."""
    out = [f'<nav class="sommaire" id="sommaire" aria-labelledby="sommaire-titre">\n'
           f'<h2 id="sommaire-titre">{esc(title)}</h2>']
    depth = 0
    base = min((lvl for lvl, _, _ in entries), default=1)
    for level, ident, text in entries:
        level = min(max(level - base + 1, 1), depth + 1)  # never open two levels at once
        if level > depth:
            out.append("<ol>" * (level - depth))
            depth = level
        else:
            out.append("</li>")
            while depth > level:
                out.append("</ol></li>")
                depth -= 1
        out.append(f'<li><a href="#{ident}">{text}</a>')
    while depth > 0:
        out.append("</li></ol>")
        depth -= 1
    out.append("</nav>")
    return "\n".join(out)


def to_html(doc: Document) -> str:
    """The whole document as one HTML5 page (UTF-8)."""
    page = _Page(doc)
    lang = doc.lang if _LANG.match(doc.lang or "") else "fr"
    body: list[str] = []
    toc: list[tuple[int, str, str]] = []
    for part in with_entries(list(doc.blocks)):
        if isinstance(part, Entry):
            body.append(page.entry(part))
        elif isinstance(part, Heading):
            text = page.inlines(list(part.spans))
            if not text:
                continue
            level = max(1, min(part.level, 5))
            ident = page.unique(slug(_plain(part.spans)))
            # The Sommaire lists the top level and the parts, as the PDF's does.
            if part.level == 1 or part.anchor:
                toc.append((level, ident, text))
            body.append(f'<h{level + 1} id="{ident}">{text}</h{level + 1}>')
        else:
            assert isinstance(part, Paragraph | ListBlock)
            body.append(page.paragraph(part))
    notes = page.notes()

    head_title = " — ".join(t for t in (_SPACES.sub(" ", doc.title).strip(), doc.subtitle.strip()) if t)
    header = ['<header class="titre" id="haut">']
    if doc.title.strip():
        header.append(f"<h1>{esc(doc.title).strip()}</h1>")
    if doc.subtitle.strip():
        header.append(f'<p class="sous-titre">{esc(doc.subtitle).strip()}</p>')
    authors = ", ".join(a.strip() for a in doc.authors if a.strip())
    if authors:
        header.append(f'<p class="auteurs">{esc(authors)}</p>')
    if doc.organisation.strip():
        header.append(f'<p class="organisation">{esc(doc.organisation).strip()}</p>')
    when = (doc.date_text or doc.date).strip()
    if when:
        iso = doc.date.strip()
        if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", iso):
            header.append(f'<p class="date"><time datetime="{iso}">{esc(when)}</time></p>')
        else:
            header.append(f'<p class="date">{esc(when)}</p>')
    header.append("</header>")

    out = ["<!DOCTYPE html>", f'<html lang="{esc(lang)}">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{esc(head_title) or 'Bibliographie'}</title>"]
    if authors:
        out.append(f'<meta name="author" content="{esc(authors)}">')
    style = STYLESHEET + (_cover_style(doc.covers.width_mm) if doc.covers is not None else "")
    out += [f"<style>{style}</style>", "</head>", "<body>", *header]
    if doc.toc and toc:
        out.append(_toc(toc, doc.toc_title or "Sommaire"))
    out += ["<main>", *[b for b in body if b], "</main>"]
    if notes:
        out.append(notes)
    if doc.toc and toc:
        out.append('<p class="haut"><a href="#sommaire">Retour au sommaire</a></p>')
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


class HtmlWriter:
    """The ``html`` format: :func:`to_html` written to a file."""

    name = "html"
    suffix = ".html"
    template_suffix = None  # the look is the inline stylesheet (STYLESHEET)

    def check(self, options: WriteOptions) -> None:
        """The web edition takes no template; nothing can be wrong."""

    def write(self, doc: Document, path: Path, options: WriteOptions) -> Path:
        write_text_atomic(path, to_html(doc))
        return path


WRITER = HtmlWriter()

__all__ = ["ROLE_CLASSES", "STYLESHEET", "WRITER", "HtmlWriter", "esc", "safe_url", "slug", "to_html"]
