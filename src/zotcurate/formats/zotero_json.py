"""Zotero Web API JSON: what ``zotcurate export`` writes and what the API answers.

Read: an export folder (``items.json`` + ``collections.json``), ``{"items": […], "collections": […]}``,
a list of ``{key, version, data}`` objects (``GET /items``, ``GET /collections``, or both mixed: items
and collections are told apart by their data), or one such object (``GET /items/KEY``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from zotcurate.errors import InputFileError
from zotcurate.fileio import write_text_atomic
from zotcurate.formats.base import ExportOptions, ExportSelection, Format, ImportOptions, ParsedFiles, read_text_file


def load_json(path: Path, text: str | None = None) -> Any:
    text = read_text_file(path) if text is None else text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; nothing was imported."
        ) from exc


def check_zotero_objects(path: Path, objects: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(objects, list):
        raise InputFileError(f"{path} should hold a JSON array of Zotero {what}; nothing was imported.")
    for i, obj in enumerate(objects):
        data = obj.get("data") if isinstance(obj, dict) else None
        if not isinstance(data, dict):
            raise InputFileError(f"{path}: entry {i + 1} has no 'data' object; nothing was imported.")
        if not (obj.get("key") or data.get("key")):
            raise InputFileError(f"{path}: entry {i + 1} has no key; nothing was imported.")
        if what == "items" and not data.get("itemType"):
            raise InputFileError(f"{path}: item {obj.get('key') or data.get('key')} has no itemType; "
                                 "nothing was imported.")
        if what == "collections" and not isinstance(data.get("name"), str):
            raise InputFileError(f"{path}: collection {obj.get('key') or data.get('key')} has no name; "
                                 "nothing was imported.")
    return objects


def is_zotero_object(value: Any) -> bool:
    """One Web API object: ``{key, version, data: {…}}`` (an item or a collection)."""
    if not (isinstance(value, dict) and isinstance(value.get("data"), dict)):
        return False
    return "key" in value or "key" in value["data"]


def is_zotero_item_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "data" in value[0]


def _is_collection(obj: Any) -> bool:
    data = obj.get("data") if isinstance(obj, dict) else None
    return isinstance(data, dict) and "itemType" not in data and "name" in data


def zotero_objects_of(path: Path, value: Any) -> ParsedFiles:
    """The items and collections of a parsed Zotero JSON value, checked."""
    parsed = ParsedFiles(sources=[str(path)])
    if isinstance(value, dict) and "items" in value:
        parsed.items = check_zotero_objects(path, value["items"], "items")
        parsed.collections = check_zotero_objects(path, value.get("collections", []), "collections")
        return parsed
    if is_zotero_object(value):
        value = [value]  # GET /items/KEY or /collections/KEY answers one object
    if not isinstance(value, list):
        raise InputFileError(f"{path} should hold a JSON array of Zotero items; nothing was imported.")
    parsed.collections = check_zotero_objects(path, [o for o in value if _is_collection(o)], "collections")
    parsed.items = check_zotero_objects(path, [o for o in value if not _is_collection(o)], "items")
    return parsed


# The Web API's own shape: an object with a "data" object, within the first objects of the file.
_API_SHAPE = re.compile(r'^\s*[\[{].{0,20000}?"data"\s*:\s*\{', re.DOTALL)


_EXPORT_SHAPE = re.compile(r'^\s*\{\s*"(?:items|collections)"\s*:')


def sniff(head: str) -> bool:
    if _EXPORT_SHAPE.match(head):
        return True
    return bool(_API_SHAPE.match(head)) and ('"itemType"' in head or '"name"' in head)


def read(path: Path, text: str, options: ImportOptions) -> ParsedFiles:
    return zotero_objects_of(path, load_json(path, text))


def read_folder(path: Path, options: ImportOptions) -> ParsedFiles:
    items_file, colls_file = path / "items.json", path / "collections.json"
    if not items_file.exists():
        raise InputFileError(f"{path} has no items.json: point at a Zotero export folder or at a file.")
    parsed = ParsedFiles(sources=[str(path)])
    parsed.items = check_zotero_objects(items_file, load_json(items_file), "items")
    if colls_file.exists():
        parsed.collections = check_zotero_objects(colls_file, load_json(colls_file), "collections")
    return parsed


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1) + "\n"


def dump(selection: ExportSelection, options: ExportOptions) -> tuple[str, int]:
    """One document: ``{"items", "collections"}`` for a whole library, the items of a collection."""
    payload: Any = selection.objects
    if selection.whole_library:
        payload = {"items": selection.objects, "collections": selection.collections}
    return _dump(payload), len(selection.objects)


def write_folder(out: Path, selection: ExportSelection) -> int:
    """A folder as Zotero's own export: ``items.json`` and ``collections.json``."""
    write_text_atomic(out / "items.json", _dump(selection.objects))
    write_text_atomic(out / "collections.json", _dump(selection.collections))
    return len(selection.objects)


FORMAT = Format("zotero-json", "Zotero API JSON", (".json",), sniff, read, read_folder, dump, write_folder)
