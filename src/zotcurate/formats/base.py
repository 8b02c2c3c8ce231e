from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zotcurate.errors import InputFileError
from zotcurate.fileio import FileTooLarge, MiB, format_size, read_bounded

# The largest file an import reads. A Zotero export of 50,000 items is about 150 MB of JSON,
# which Python needs several times over in memory; past this, split the export by collection.
MAX_IMPORT_BYTES = 256 * MiB


@dataclass
class ParsedFiles:
    """Zotero API objects read from files: ``{key, version, data}`` dicts."""

    items: list[dict[str, Any]] = field(default_factory=list)
    collections: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def read_text_file(path: Path, *, limit: int = MAX_IMPORT_BYTES) -> str:
    """A UTF-8 input file's text (at most ``limit`` bytes), or an InputFileError saying why not."""
    try:
        text = read_bounded(path, limit).decode("utf-8")
    except FileTooLarge as exc:
        raise InputFileError(f"{path} is larger than {format_size(limit)}, the most an import reads; "
                             "export a smaller part (e.g. one collection) and import that.") from exc
    except IsADirectoryError as exc:
        raise InputFileError(f"{path} is a folder, not a file; name the file to import.") from exc
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and retry.") from exc
    except OSError as exc:
        raise InputFileError(f"{path} cannot be read ({exc.strerror}).") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text-mode open() reads
