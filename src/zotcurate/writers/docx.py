"""Document → Word (.docx), through pandoc (the binary inside the pypandoc-binary wheel).

Why pandoc rather than python-docx: python-docx has no API for hyperlinks or footnotes,
and writing them by hand means maintaining raw OOXML (relationships, footnotes.xml,
separator notes, content types, TOC fields) that Word and LibreOffice are strict about.
pandoc's docx writer produces all of it, takes styles, headers/footers and page setup
from any ``--reference-doc`` (so ``--template FILE.docx`` is one option away), and maps
``custom-style`` attributes to named Word styles. We hand pandoc its JSON AST built
straight from the Document — not Markdown — so no text is ever re-parsed: what the
user typed cannot turn into markup on the way.

This is the only module that imports pypandoc.
"""

from __future__ import annotations

import json
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pypandoc

from zotcurate.document import (
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
    Span,
    clean_text,
)
from zotcurate.errors import ConfigError, RenderError
from zotcurate.fileio import atomic_output
from zotcurate.writers.base import WriteOptions

# Paragraph role → Word style name. Restyle one of these in Word and every entry
# follows. BODY keeps pandoc's own "First Paragraph"/"Body Text".
ROLE_STYLES: dict[str, str] = {
    CITATION: "Citation bibliographique",
    LINK: "Lien vers le document",
    COMMENTARY: "Commentaire",
    PREAMBLE: "Préambule",
    NOTICE: "Mention",
}

_NO_ATTR: list[Any] = ["", [], []]


def default_reference_doc() -> Path | None:
    """The bundled ``styles/reference.docx`` (pandoc's defaults plus our named styles)."""
    ref = resources.files("zotcurate.styles").joinpath("reference.docx")
    path = Path(str(ref))
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def _api_version() -> list[int]:
    # The JSON AST must carry the API version of the pandoc that reads it; ask pandoc.
    try:
        out = pypandoc.convert_text("", "json", format="markdown")
    except (OSError, RuntimeError) as exc:
        raise RenderError(f"pandoc cannot be run ({exc}); reinstall zotcurate (it needs pypandoc-binary).") from exc
    return list(json.loads(out)["pandoc-api-version"])


def _words(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, word in enumerate(clean_text(text).replace("\n", " ").split(" ")):
        if n and (not out or out[-1]["t"] != "Space"):
            out.append({"t": "Space"})
        if word:
            out.append({"t": "Str", "c": word})
    return out


def _span(span: Span) -> list[dict[str, Any]]:
    node = _words(span.text)
    if not node:
        return []
    for flag, tag in ((span.superscript, "Superscript"), (span.subscript, "Subscript"),
                      (span.smallcaps, "SmallCaps"), (span.italic, "Emph"), (span.bold, "Strong")):
        if flag:
            node = [{"t": tag, "c": node}]
    return node


def _inlines(items: list[Inline], doc: Document) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, FootnoteRef):
            note = [{"t": "Para", "c": _inlines(list(doc.footnotes.get(item.number, [])), doc)}]
            out.append({"t": "Note", "c": note})
            i += 1
            continue
        if item.url:
            # Neighbouring spans with the same target make one hyperlink.
            j = i
            group: list[dict[str, Any]] = []
            while j < len(items) and isinstance(items[j], Span) and items[j].url == item.url:  # type: ignore[union-attr]
                group += _span(items[j])  # type: ignore[arg-type]
                j += 1
            url = clean_text(item.url).strip()
            out.append({"t": "Link", "c": [_NO_ATTR, group, [url, ""]]})
            i = j
            continue
        out += _span(item)
        i += 1
    return out


def _styled(blocks: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    style = ROLE_STYLES.get(role)
    if style is None:
        return blocks
    return [{"t": "Div", "c": [["", [], [["custom-style", style]]], blocks]}]


def _block(block: Block, doc: Document) -> list[dict[str, Any]]:
    if isinstance(block, Heading):
        attr = [block.anchor or "", [], []]
        return [{"t": "Header", "c": [max(1, min(block.level, 9)), attr, _inlines(list(block.spans), doc)]}]
    if isinstance(block, ListBlock):
        items = [[{"t": "Para", "c": _inlines(item, doc)}] for item in block.items]
        node = ({"t": "OrderedList", "c": [[1, {"t": "Decimal"}, {"t": "Period"}], items]}
                if block.ordered else {"t": "BulletList", "c": items})
        return _styled([node], block.role)
    assert isinstance(block, Paragraph)
    content = _inlines(block.spans, doc)
    if not content:
        return []
    return _styled([{"t": "Para", "c": content}], block.role)


def _meta_inlines(text: str) -> dict[str, Any]:
    return {"t": "MetaInlines", "c": _words(text)}


def to_pandoc_ast(doc: Document) -> dict[str, Any]:
    """The Document as pandoc's JSON AST (a dict ready for ``json.dumps``)."""
    meta: dict[str, Any] = {"lang": {"t": "MetaString", "c": doc.lang}}
    if doc.title:
        meta["title"] = _meta_inlines(doc.title)
    if doc.subtitle:
        meta["subtitle"] = _meta_inlines(doc.subtitle)
    authors = [a for a in doc.authors if a.strip()]
    if authors:
        meta["author"] = {"t": "MetaList", "c": [_meta_inlines(a) for a in authors]}
    if doc.date:
        meta["date"] = _meta_inlines(doc.date)
    if doc.toc:
        meta["toc-title"] = _meta_inlines(doc.toc_title)
    blocks: list[dict[str, Any]] = []
    for block in doc.blocks:
        blocks += _block(block, doc)
    return {"pandoc-api-version": _api_version(), "meta": meta, "blocks": blocks}


# A reference document is styles and page setup: a few MB at most once inflated. pandoc inflates
# every part, so a zip bomb (4 MB inflating to GBs) would take all memory; refuse it first.
MAX_TEMPLATE_INFLATED = 256 * 1024 * 1024
MAX_TEMPLATE_RATIO = 100  # XML deflates 5-20 times; 1000 times is a bomb, not a document
_RATIO_FROM = 1024 * 1024  # small parts (an empty header) may compress better than that


def check_inflated_size(zf: zipfile.ZipFile, path: Path) -> None:
    """Refuse a template whose parts inflate past the limits: first by what the zip directory
    declares, then by inflating each part with a bound (a directory can lie; zipfile stops at
    the declared size and fails its CRC check on more)."""
    parts = zf.infolist()
    total = sum(info.file_size for info in parts)
    bomb = next((info for info in parts if info.file_size > _RATIO_FROM
                 and info.file_size > MAX_TEMPLATE_RATIO * max(info.compress_size, 1)), None)
    if total > MAX_TEMPLATE_INFLATED or bomb is not None:
        what = (f"its part {bomb.filename} inflates {bomb.file_size // max(bomb.compress_size, 1)} times"
                if bomb is not None else f"its parts inflate to {total // (1024 * 1024)} MB")
        raise ConfigError(f"The Word template {path} is not a usable .docx: {what} (a document's styles take a few "
                          "MB at most); save a template from Word with styles and page setup only.")
    for info in parts:
        with zf.open(info) as part:
            while part.read(1024 * 1024):
                pass


def check_template(path: Path) -> Path:
    """A usable reference document, or a ConfigError saying what is wrong with it."""
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "does not exist"
        raise ConfigError(f"The Word template {path} {what}; give the path of a .docx file.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            check_inflated_size(zf, path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"The Word template {path} is not a .docx file ({exc}); save it from Word as .docx.") from exc
    if "word/document.xml" not in names or "word/styles.xml" not in names:
        raise ConfigError(f"The Word template {path} has no document or styles part; save it from Word as .docx.")
    return path


def write_docx(doc: Document, path: Path, *, template: Path | None = None) -> Path:
    """Write ``doc`` to ``path`` atomically: a failure never leaves a partial file."""
    reference = check_template(template) if template else default_reference_doc()
    args = ["--toc", "--toc-depth=3"] if doc.toc else []
    if reference:
        args.append(f"--reference-doc={reference}")
    try:
        with atomic_output(path) as tmp:
            source = json.dumps(to_pandoc_ast(doc), ensure_ascii=False)
            pypandoc.convert_text(source, "docx", format="json", outputfile=str(tmp), extra_args=args)
    except OSError as exc:
        raise RenderError(f"{path} cannot be written ({exc.strerror or exc}); choose another folder.") from exc
    except RuntimeError as exc:
        raise RenderError(f"pandoc could not write {path} ({str(exc).strip()[:300]}); "
                          "check the template and that the folder is writable.") from exc
    return path


class DocxWriter:
    """The ``docx`` format: Word through pandoc, styled by ``options.template`` or the bundled reference."""

    name = "docx"
    suffix = ".docx"

    def check(self, options: WriteOptions) -> None:
        if options.template is not None:
            check_template(options.template)

    def write(self, doc: Document, path: Path, options: WriteOptions) -> Path:
        return write_docx(doc, path, template=options.template)


WRITER = DocxWriter()

__all__ = ["ROLE_STYLES", "WRITER", "DocxWriter", "check_template", "default_reference_doc", "to_pandoc_ast",
           "write_docx"]
