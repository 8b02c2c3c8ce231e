from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zotcurate.errors import InputFileError
from zotcurate.formats.base import read_text_file


def load_json(path: Path) -> Any:
    text = read_text_file(path)
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
            raise InputFileError(f"{path}: item {obj.get('key') or data.get('key')} has no itemType; nothing was imported.")
        if what == "collections" and not isinstance(data.get("name"), str):
            raise InputFileError(f"{path}: collection {obj.get('key') or data.get('key')} has no name; nothing was imported.")
    return objects


def is_zotero_item_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "data" in value[0]
