"""Document → PDF, typeset by Typst (the ``typst`` wheel: the compiler itself, no system packages).

The document is written as Typst *code*, never as markup: every piece of user text is a
string literal (only ``\\`` and ``"`` need escaping there) handed to functions such as
``emph``, ``link`` and ``footnote``, so a title holding ``#``, ``*``, ``_``, ``$``, ``@``,
``<label>`` or ``]`` prints as written and can never become markup or code.

The look comes from a template file, ``styles/bibliographie.typ`` by default: zotcurate
appends the document to it as calls to the template's functions (``zc-document`` for the
title page, Sommaire and footer, ``zc-entry`` for an entry, one function per paragraph
role). A centre copies that file, changes it and passes it with ``--template maison.typ``.
The template's folder is Typst's root, so a logo placed beside it is found, and its
``fonts`` sub-folder, if any, is searched for font files (only that folder: scanning a whole
home folder for fonts would be slow).

This is the only module that imports typst.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib import resources
from pathlib import Path

import typst

from zotcurate.document import (
    BODY,
    CITATION,
    COMMENTARY,
    LINK,
    NOTICE,
    PREAMBLE,
    Block,
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
from zotcurate.errors import ConfigError, RenderError
from zotcurate.fileio import atomic_output
from zotcurate.writers.base import Entry, WriteOptions, with_entries

# Paragraph role → the template function that styles it. Unknown roles are body text.
ROLE_FUNCTIONS: dict[str, str] = {
    BODY: "zc-body",
    PREAMBLE: "zc-preamble",
    NOTICE: "zc-notice",
    CITATION: "zc-citation",
    LINK: "zc-link",
    COMMENTARY: "zc-commentary",
}
_SPACES = re.compile(r"[ \t\n]+")  # not \s: non-breaking spaces are typography and must stay
_LANG = re.compile(r"^([a-zA-Z]{2,3})(?:[-_]([a-zA-Z]{2}))?\b")
# The folder, inside Typst's root, where a render puts its cover thumbnails.
COVERS_DIR = "zc-covers"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def default_template() -> Path:
    """The bundled ``styles/bibliographie.typ``: the centre's look."""
    return Path(str(resources.files("zotcurate.styles").joinpath("bibliographie.typ")))


def typst_str(text: str) -> str:
    """``text`` as a Typst string literal: the only way user text enters the Typst source."""
    text = _SPACES.sub(" ", clean_text(text))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _span(span: Span) -> str:
    expr = typst_str(span.text)
    for flag, fn in ((span.superscript, "super"), (span.subscript, "sub"), (span.smallcaps, "smallcaps"),
                     (span.italic, "emph"), (span.bold, "strong")):
        if flag:
            expr = f"{fn}({expr})"
    return expr


def _join(parts: list[str]) -> str:
    if not parts:
        return "none"
    if len(parts) == 1:
        return parts[0]
    return "(" + ", ".join(parts) + ").join()"


class _Source:
    """Typst source for one document: inlines, blocks and footnotes (a footnote called twice
    is written once, with a label, and called again by that label)."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.calls = Counter(item.number for block in doc.blocks for run in _runs(block)
                             for item in run if isinstance(item, FootnoteRef))
        self.written: set[int] = set()

    def inlines(self, items: list[Inline]) -> str:
        parts: list[str] = []
        for part in link_groups(_trimmed(items)):
            if isinstance(part, FootnoteRef):
                parts.append(self.footnote(part.number))
                continue
            url, spans = part
            if url is None:
                parts += [_span(s) for s in spans]
            else:
                parts.append(f"link({typst_str(url)}, {_join([_span(s) for s in spans])})")
        return _join(parts)

    def footnote(self, number: int) -> str:
        label = f"<zc-fn-{number}>"
        if number in self.written:
            return f"footnote({label})"
        self.written.add(number)
        note = f"footnote({self.inlines(list(self.doc.footnotes.get(number, [])))})"
        # A label is attached in markup; only a footnote called again needs one.
        return f"[#{note}{label}]" if self.calls[number] > 1 else note

    def block(self, block: Block) -> str:
        if isinstance(block, Heading):
            level = max(1, min(block.level, 6))
            # The Sommaire lists the top level and the parts (headings with an anchor), not
            # sub-headings such as "Ressources pour comprendre" repeated in every part.
            outlined = "true" if level == 1 or block.anchor else "false"
            return f"#heading(level: {level}, outlined: {outlined}, {self.inlines(list(block.spans))})"
        return f"#{ROLE_FUNCTIONS.get(block.role, 'zc-body')}({self.content(block)})"

    def content(self, block: Paragraph | ListBlock) -> str:
        if isinstance(block, ListBlock):
            fn = "enum" if block.ordered else "list"
            return f"{fn}({', '.join(self.inlines(item) for item in block.items)})"
        return self.inlines(block.spans)


def _runs(block: Block) -> list[list[Inline]]:
    if isinstance(block, ListBlock):
        return block.items
    if isinstance(block, Paragraph):
        return [block.spans]
    return []


def _trimmed(items: list[Inline]) -> list[Inline]:
    """No ordinary space at the start or end of a paragraph (Typst would print it)."""
    out = list(items)
    if out and isinstance(out[0], Span):
        out[0] = replace(out[0], text=out[0].text.lstrip(" \t\n"))
    if out and isinstance(out[-1], Span):
        out[-1] = replace(out[-1], text=out[-1].text.rstrip(" \t\n"))
    return [i for i in out if not isinstance(i, Span) or i.text]


def _length(entry: Entry) -> int:
    """An entry's size in characters, each paragraph or list item counted as at least a full line
    (100): lets the template skip measuring entries that surely fit on a page."""
    blocks: list[Block] = [entry.citation, *([entry.link] if entry.link else []), *entry.commentary]
    runs = [run for b in blocks for run in _runs(b)]
    return sum(len(s.text) for run in runs for s in run if isinstance(s, Span)) + 100 * len(runs)


def _is_empty(block: Block) -> bool:
    return not any(_trimmed(run) for run in _runs(block)) if not isinstance(block, Heading) else False


def _lang(tag: str) -> tuple[str, str | None]:
    m = _LANG.match(tag or "")
    if not m:
        return "fr", None
    return m.group(1).lower(), (m.group(2).upper() if m.group(2) else None)


def to_typst(doc: Document) -> str:
    """The document as Typst source, to be appended to a template that defines the ``zc-`` functions."""
    src = _Source(doc)
    lang, region = _lang(doc.lang)
    authors = ", ".join(typst_str(a) for a in doc.authors if a.strip())
    args = [
        f"title: {typst_str(doc.title)}",
        f"subtitle: {typst_str(doc.subtitle)}",
        f"authors: ({authors}{',' if authors else ''})",
        f"organisation: {typst_str(doc.organisation)}",
        f"date: {typst_str(doc.date_text or doc.date)}",
        f"short-title: {typst_str(doc.short_title)}",
        f"lang: {typst_str(lang)}",
        f"region: {typst_str(region) if region else 'none'}",
        f"toc: {'true' if doc.toc else 'false'}",
        f"toc-title: {typst_str(doc.toc_title)}",
    ]
    out = [f"#show: zc-document.with({', '.join(args)})"]
    for part in with_entries([b for b in doc.blocks if not _is_empty(b)]):
        if isinstance(part, Entry):
            link = src.content(part.link) if part.link else "none"
            comm = "".join(f"{src.content(c)}, " for c in part.commentary)
            cover = ""
            if doc.covers is not None:  # every entry gets the cover column, so all stay aligned
                cover = f", cover: {_cover(part.cover)}, cover-width: {doc.covers.width_mm:g}mm"
            out.append(f"#zc-entry(citation: {src.inlines(part.citation.spans)}, link: {link}, "
                       f"commentary: ({comm}), length: {_length(part)}{cover})")
        else:
            out.append(src.block(part))
    return "\n\n".join(out) + "\n"


def _cover(picture: Picture | None) -> str:
    """A call to the template's ``zc-cover`` for the thumbnail (found in ``COVERS_DIR``), or ``none``."""
    if picture is None or not _SAFE_NAME.match(picture.name):
        return "none"
    url = link_target(picture.url)
    return (f"zc-cover({typst_str(COVERS_DIR + '/' + picture.name)}, alt: {typst_str(picture.alt)}, "
            f"url: {typst_str(url) if url else 'none'})")


@contextmanager
def _root_with_covers(doc: Document, template_dir: Path) -> Iterator[Path]:
    """Typst reads files only inside its root: the template's folder, or, when the document has
    covers, a temporary folder that links to everything in the template's folder (a logo, fonts)
    and holds the thumbnails in ``COVERS_DIR``."""
    pictures = {b.image.name: b.image for b in doc.blocks
                if isinstance(b, Paragraph) and b.image is not None and _SAFE_NAME.match(b.image.name)}
    if doc.covers is None or not pictures:
        yield template_dir
        return
    with tempfile.TemporaryDirectory(prefix="zotcurate-typst-") as tmp:
        root = Path(tmp)
        for entry in template_dir.iterdir():
            if entry.name != COVERS_DIR:
                _link_or_copy(entry, root / entry.name)
        (root / COVERS_DIR).mkdir()
        for name, picture in pictures.items():
            _link_or_copy(Path(picture.path), root / COVERS_DIR / name)
        yield root


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.symlink(source.resolve(), target, target_is_directory=source.is_dir())
    except OSError:  # no symlinks here (Windows without the right): copy instead
        if source.is_dir():
            shutil.copytree(source, target)
        elif source.is_file():
            shutil.copyfile(source, target)


def _read_template(path: Path) -> str:
    if path.suffix.lower() != ".typ":
        raise ConfigError(f"The PDF template {path} is not a .typ file; give a Typst file such as a copy of "
                          f"{default_template().name}.")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"The PDF template {path} does not exist; give the path of a .typ file.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The PDF template {path} is not UTF-8 text; save it as UTF-8.") from exc
    except OSError as exc:
        raise ConfigError(f"The PDF template {path} cannot be read ({exc.strerror or exc}).") from exc


def _typst_message(exc: Exception) -> str:
    message = str(getattr(exc, "message", "") or exc).strip()
    return message.splitlines()[0][:300] if message else type(exc).__name__


def compile_pdf(source: str, root: Path) -> bytes:
    """Typst ``source`` compiled to PDF bytes; images are looked up in ``root``, fonts in ``root/fonts``
    as well as among the machine's fonts and Typst's own."""
    fonts = [str(root / "fonts")] if (root / "fonts").is_dir() else []
    # The stub ties root and font_paths to the input's type; bytes input with str paths is what typst takes.
    out = typst.compile(source.encode("utf-8"), root=str(root), font_paths=fonts,  # type: ignore[call-overload]
                        format="pdf")
    if not isinstance(out, bytes):
        raise RenderError("Typst returned no PDF; reinstall zotcurate (it needs the typst package).")
    return out


# A small document that calls every function a template must define.
_PROBE = Document(title="Titre", subtitle="Sous-titre", authors=["NOM Prénom"], date="2025-07",
                  toc=True, blocks=[
                      Heading(1, [Span("Partie")], anchor="AAAAAAAA"),
                      Paragraph([Span("Texte.")]), Paragraph([Span("Texte.")], role=PREAMBLE),
                      Paragraph([Span("Mention.")], role=NOTICE),
                      Paragraph([Span("Citation.")], role=CITATION, key="K"),
                      Paragraph([Span("Lien", url="https://example.org/")], role=LINK, key="K"),
                      Paragraph([Span("Commentaire.")], role=COMMENTARY, key="K"),
                      Paragraph([Span("Lien seul.")], role=LINK),
                      Paragraph([Span("Commentaire seul.")], role=COMMENTARY),
                  ])


def check_template(path: Path) -> Path:
    """A template that Typst can use with a small document, or a ConfigError saying what is wrong."""
    text = _read_template(path)
    try:
        compile_pdf(text + "\n" + to_typst(_PROBE), path.resolve().parent)
    except Exception as exc:  # typst raises its own errors and panics: all mean a bad template
        raise ConfigError(f"The PDF template {path} does not work with Typst ({_typst_message(exc)}); "
                          f"start again from a copy of {default_template().name}.") from exc
    return path


def write_pdf(doc: Document, path: Path, *, template: Path | None = None) -> Path:
    """Write ``doc`` to ``path`` as PDF, atomically: a failure never leaves a partial file."""
    tpl = template or default_template()
    source = _read_template(tpl) + "\n\n// ---- the document, written by zotcurate ----\n\n" + to_typst(doc)
    try:
        with _root_with_covers(doc, tpl.resolve().parent) as root:
            pdf = compile_pdf(source, root)
    except Exception as exc:  # a Typst failure becomes one sentence, never a traceback
        raise RenderError(f"Typst could not typeset {path.name} ({_typst_message(exc)}); "
                          f"check the PDF template {tpl}.") from exc
    try:
        with atomic_output(path) as tmp:
            tmp.write_bytes(pdf)
    except OSError as exc:
        raise RenderError(f"{path} cannot be written ({exc.strerror or exc}); choose another folder.") from exc
    return path


class PdfWriter:
    """The ``pdf`` format: Typst with ``options.template`` (a .typ file) or the bundled template."""

    name = "pdf"
    suffix = ".pdf"
    template_suffix = ".typ"  # a Typst template

    def check(self, options: WriteOptions) -> None:
        if options.template is not None:
            check_template(options.template)

    def write(self, doc: Document, path: Path, options: WriteOptions) -> Path:
        return write_pdf(doc, path, template=options.template)


WRITER = PdfWriter()

__all__ = ["ROLE_FUNCTIONS", "WRITER", "PdfWriter", "check_template", "compile_pdf",
           "default_template", "to_typst", "typst_str", "write_pdf"]
