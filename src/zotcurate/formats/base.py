"""What every file format shares: the parsed result, the options, the format table entry, and reading
text files in whatever encoding people actually have them in."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zotcurate.errors import InputFileError
from zotcurate.fileio import FileTooLarge, MiB, format_size, read_bounded

# The largest file an import reads. A Zotero export of 50,000 items is about 150 MB of JSON,
# which Python needs several times over in memory; past this, split the export by collection.
MAX_IMPORT_BYTES = 256 * MiB

NON_ITEM_TYPES = ("note", "attachment", "annotation")
BIBTEX_FLAVOURS = ("bibtex", "biblatex")


@dataclass
class ParsedFiles:
    """Zotero API objects read from files: ``{key, version, data}`` dicts, and the warnings about
    what was read differently from what the file says (a skipped entry, a guessed encoding)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    collections: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportOptions:
    """``strict``: a problem that would be a warning (an entry skipped, a macro left undefined, an
    encoding guessed) refuses the file instead."""

    strict: bool = False


@dataclass(frozen=True)
class ExportOptions:
    """``bibtex_flavour``: ``bibtex`` (the classic entry types and fields) or ``biblatex``."""

    bibtex_flavour: str = "bibtex"


@dataclass(frozen=True)
class ExportSelection:
    """What to write: the API objects (top-level items with their children), the library's
    collections, and whether that is the whole library (a collection export leaves collections out)."""

    objects: list[dict[str, Any]]
    collections: list[dict[str, Any]]
    whole_library: bool


@dataclass(frozen=True)
class Format:
    """One file format, as the table in :mod:`zotcurate.formats.files` lists it.

    ``sniff(head)`` tells from the first characters of a file whether it holds this format (the
    suffix alone decides nothing: a ``.txt`` can hold BibTeX); ``read(path, text, options)`` reads a
    file; ``read_folder`` reads a folder (Zotero export folders); ``dump(selection, options)`` gives
    the export as one text and the number of objects in it (files and standard output alike);
    ``write_folder(out, selection)`` writes a folder export (Zotero JSON) and returns that number."""

    name: str
    label: str
    suffixes: tuple[str, ...]
    sniff: Callable[[str], bool]
    read: Callable[[Path, str, ImportOptions], ParsedFiles] | None = None
    read_folder: Callable[[Path, ImportOptions], ParsedFiles] | None = None
    dump: Callable[[ExportSelection, ExportOptions], tuple[str, int]] | None = None
    write_folder: Callable[[Path, ExportSelection], int] | None = None


def top_level_items(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items that are references (no notes, attachments or annotations, no children)."""
    return [o for o in objects if not o["data"].get("parentItem") and o["data"].get("itemType") not in NON_ITEM_TYPES]


class Warnings:
    """Collects warnings while a file is read; with ``strict`` the first one is an InputFileError."""

    def __init__(self, path: Path, strict: bool) -> None:
        self.path, self.strict = path, strict
        self.messages: list[str] = []

    def add(self, problem: str, consequence: str) -> None:
        """``problem`` says what is wrong and where (``line 5: …``), ``consequence`` what the import did
        about it (``it was skipped``); strict, the import stops there."""
        if self.strict:
            raise InputFileError(f"{self.path}: {problem}; fix it and import again (--strict: nothing was imported).")
        self.messages.append(f"{self.path}: {problem}; {consequence}.")


# -- reading text --------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class DecodedText:
    """A file's text, the encoding it was read in, and ``guess``: a sentence when that encoding was
    guessed (no byte-order mark, no declaration, not UTF-8), "" otherwise."""

    text: str
    encoding: str
    guess: str = ""


def read_file_bytes(path: Path, *, limit: int = MAX_IMPORT_BYTES) -> bytes:
    """The bytes of an input file (at most ``limit``: ``/dev/zero`` ends there), or an
    InputFileError saying why they cannot be read."""
    try:
        return read_bounded(path, limit)
    except FileTooLarge as exc:
        raise InputFileError(f"{path} is larger than {format_size(limit)}, the most an import reads; "
                             "export a smaller part (e.g. one collection) and import that.") from exc
    except IsADirectoryError as exc:
        raise InputFileError(f"{path} is a folder, not a file; name the file to import.") from exc
    except OSError as exc:
        raise InputFileError(f"{path} cannot be read ({exc.strerror}).") from exc


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a byte-order mark shows NUL bytes at every other position (ASCII text)."""
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > len(odd) * 0.4 and not even.count(0):
        return "utf-16-le"
    if even.count(0) > len(even) * 0.4 and not odd.count(0):
        return "utf-16-be"
    return None


def decode_text(data: bytes, path: Path, *, declared: str | None = None, guess: bool = False) -> DecodedText:
    """Decode a file: a byte-order mark (UTF-8, UTF-16, UTF-32) wins, then UTF-16 recognised by its
    NUL bytes, then ``declared`` (JabRef's ``% Encoding: windows-1252`` header), then UTF-8; with
    ``guess``, charset-normalizer's best guess (said in ``DecodedText.guess``)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return DecodedText(_decode(data[len(bom):], encoding, path), encoding)
    if utf16 := _utf16_without_bom(data):
        return DecodedText(_decode(data, utf16, path), utf16, f"read as {utf16.upper()} (it has no byte-order mark)")
    if declared:
        try:
            codec = codecs.lookup(declared).name
        except LookupError:
            codec = ""
        if codec:
            try:
                return DecodedText(data.decode(codec), codec)
            except UnicodeDecodeError:
                pass  # a wrong declaration: fall back to UTF-8, then to a guess
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        if not guess:
            raise InputFileError(
                f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and retry.") from exc
        first_bad = exc.start
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or not best.encoding:
        raise InputFileError(f"{path} is not UTF-8 text (byte {first_bad}) and its encoding cannot be recognised; "
                             "save it as UTF-8 and retry.")
    guessed = codecs.lookup(best.encoding).name
    said = f" although it declares {declared}" if declared else ""
    return DecodedText(data.decode(guessed, errors="replace"), guessed,
                       f"read as {guessed} (a guess: it is not UTF-8{said}); check accented letters, or save it "
                       "as UTF-8")


def _decode(data: bytes, encoding: str, path: Path) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path} is not valid {encoding.upper()} text (byte {exc.start}); "
                             "save it as UTF-8 and retry.") from exc


def read_text_file(path: Path) -> str:
    """A text input file's text: UTF-8 (with or without a byte-order mark), UTF-16 or UTF-32, or an
    InputFileError saying why not."""
    return decode_text(read_file_bytes(path), path).text
