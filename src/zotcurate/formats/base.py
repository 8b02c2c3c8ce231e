from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zotcurate.errors import InputFileError


@dataclass
class ParsedFiles:
    """Zotero API objects read from files: ``{key, version, data}`` dicts."""

    items: list[dict[str, Any]] = field(default_factory=list)
    collections: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def read_text_file(path: Path) -> str:
    """A UTF-8 input file's text, or an InputFileError saying why not."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and retry.") from exc
    except OSError as exc:
        raise InputFileError(f"{path} cannot be read ({exc.strerror}).") from exc
