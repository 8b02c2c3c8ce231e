"""Attachment files: ``zotcurate sync --files`` downloads the files of the library's stored
attachments (``imported_file`` and ``imported_url``) into a folder beside the store.

The folder is content-addressed: a file is named by its MD5 (``ab/abcdef….pdf``), so two
attachments with the same file share it, and a file is never half there: it is written under
``.partial/`` and renamed into place when complete, and only then recorded in the store. A
killed run therefore loses only the downloads in flight; the next run starts them again.

Each attachment's ``md5`` (Zotero's hash of the file, in its data) decides what to do:
recorded with the same md5 and on disk → nothing; a new md5 → downloaded, and the old file
removed once no attachment uses it; an attachment gone from the library (deleted or trashed)
→ its file removed. At most four downloads are in flight; a file over the size limit is
skipped with a notice, and tried again once the limit allows it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zotcurate.config import Settings
from zotcurate.errors import ConfigError, LibraryKindError, NotFoundError
from zotcurate.model import Item, Library, LibraryRef
from zotcurate.output import ProgressReporter, plural
from zotcurate.store import Store, now_iso
from zotcurate.zotero.client import MAX_IN_FLIGHT, FileFetcher, FileTooLarge, FileUnavailable, ZoteroClient

FILE_MODES = ("imported_file", "imported_url")  # attachments whose file Zotero stores
PARTIAL = ".partial"
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


@dataclass
class FilesResult:
    library: str
    wanted: int = 0
    downloaded: int = 0
    replaced: int = 0
    unchanged: int = 0
    removed: int = 0
    too_large: list[str] = field(default_factory=list)  # "KEY (file name, N MB)"
    unavailable: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bytes: int = 0
    stored: int = 0  # files the library now has on disk
    stored_bytes: int = 0

    def summary(self) -> str:
        parts = [f"{plural(self.downloaded, 'file')} downloaded"]
        if self.replaced:
            parts[0] += f" ({self.replaced} replacing older versions)"
        parts.append(f"{self.unchanged} unchanged")
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.too_large:
            parts.append(f"{len(self.too_large)} over the size limit")
        if self.unavailable:
            parts.append(f"{len(self.unavailable)} not on Zotero's storage")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return (f"{self.library} files: {', '.join(parts)}; {plural(self.stored, 'file')} "
                f"({human_size(self.stored_bytes)}) stored.")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _label(item: Item) -> str:
    name = str(item.data.get("filename") or item.data.get("title") or "no file name")
    return f"{item.key} ({name})"


def _suffix(item: Item) -> str:
    suffix = Path(str(item.data.get("filename") or "")).suffix.lower()
    return suffix if _SUFFIX.match(suffix) else ""


def file_attachments(store: Store, lib: Library) -> dict[str, Item]:
    """Every attachment of the library whose file Zotero stores (not trashed, nor its parent)."""
    items = list(store.items(lib, include_children=True))
    trashed = {i.key for i in items if i.trashed}
    return {i.key: i for i in items if i.item_type == "attachment" and not i.trashed
            and i.data.get("linkMode") in FILE_MODES and i.parent_key not in trashed}


def _selected(store: Store, lib: Library, attachments: dict[str, Item], collections: Iterable[str]) -> dict[str, Item]:
    """The attachments of the items in these collections (and their sub-collections)."""
    keys = [c.key for c in store.resolve_collections(lib, list(collections))]
    parents = {i.key for i in store.items(lib, collections=keys)}
    return {k: a for k, a in attachments.items() if a.parent_key in parents}


@dataclass
class _Done:
    key: str
    content_md5: str
    size: int
    content_type: str | None
    tmp: Path


def _download(fetcher: FileFetcher, item: Item, partial: Path, max_bytes: int) -> _Done:
    fd, name = tempfile.mkstemp(prefix=f"{item.key}-", dir=partial)
    tmp = Path(name)
    h = hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            def write(chunk: bytes) -> None:
                nonlocal size
                h.update(chunk)
                size += len(chunk)
                fh.write(chunk)

            ctype = fetcher.fetch(item.key, write, max_bytes)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return _Done(item.key, h.hexdigest(), size, ctype, tmp)


def sync_files(store: Store, settings: Settings, ref: LibraryRef, *, collections: Iterable[str] = (),
               max_bytes: int | None = None, progress: ProgressReporter | None = None) -> FilesResult:
    """Bring the library's attachment files on disk up to date with its stored attachments."""
    if ref.kind == "file":
        raise LibraryKindError(f"{ref.name} is imported from files; it has no attachment files to download.")
    progress = progress or ProgressReporter()
    limit = settings.max_file_bytes if max_bytes is None else max_bytes
    lib = store.require_library(ref.name)
    folder = store.files_dir
    if folder is None:
        raise ConfigError("A scratch store has no files folder; give --store a file.")
    partial = folder / PARTIAL
    shutil.rmtree(partial, ignore_errors=True)  # what a killed run left half-written is never used
    partial.mkdir(parents=True, exist_ok=True)
    result = FilesResult(lib.name)

    everything = file_attachments(store, lib)
    wanted = _selected(store, lib, everything, collections) if collections else everything
    rows = store.attachment_files(lib)
    # Gone from the library: forget the record, and the file once nothing uses it.
    gone = [k for k in rows if k not in everything]
    old_paths = {rows[k]["path"] for k in gone if rows[k].get("path")}
    result.removed = sum(1 for k in gone if rows[k].get("status") == "stored")
    store.forget_attachment_files(lib, gone)

    queue: list[Item] = []
    for key, item in sorted(wanted.items()):
        md5 = str(item.data.get("md5") or "")
        row = rows.get(key)
        if not md5:  # Zotero has no file for it (never uploaded): nothing to ask for
            result.unavailable.append(_label(item))
            continue
        if row and row.get("md5") == md5:
            if row.get("status") == "stored" and row.get("path") and (folder / row["path"]).is_file():
                result.unchanged += 1
                continue
            if row.get("status") == "too-large" and int(row.get("size") or 0) > limit:
                result.too_large.append(f"{_label(item)}, {human_size(int(row['size']))}")
                continue
        queue.append(item)
    result.wanted = len(wanted)

    try:
        if queue:
            with ZoteroClient(settings, ref, progress=progress) as client, FileFetcher(client) as fetcher:
                progress.start(f"Downloading the files of {lib.name}", total=len(queue))
                try:
                    _run(store, lib, fetcher, queue, rows, folder, partial, limit, result, old_paths, progress)
                finally:
                    progress.stop()
    finally:
        in_use = store.file_paths_in_use()
        for path in old_paths - in_use:
            (folder / path).unlink(missing_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
    counts = store.file_counts(lib)
    result.stored, result.stored_bytes = counts["files"], counts["file_bytes"]
    return result


def _run(store: Store, lib: Library, fetcher: FileFetcher, queue: list[Item], rows: dict[str, dict[str, Any]],
         folder: Path, partial: Path, limit: int, result: FilesResult, old_paths: set[str],
         progress: ProgressReporter) -> None:
    """Download ``queue`` with at most four in flight; record each file as soon as it is complete
    (the store is written from this thread only)."""
    by_key = {i.key: i for i in queue}
    todo = iter(queue)
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT) as pool:
        running: dict[Future[_Done], Item] = {}

        def submit() -> None:
            item = next(todo, None)
            if item is not None:
                running[pool.submit(_download, fetcher, item, partial, limit)] = item

        for _ in range(MAX_IN_FLIGHT):
            submit()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                item = running.pop(future)
                md5 = str(item.data.get("md5") or "")
                base = {"item_key": item.key, "parent_key": item.parent_key, "md5": md5,
                        "content_type": item.data.get("contentType"), "filename": item.data.get("filename"),
                        "fetched_at": now_iso()}
                try:
                    done = future.result()
                except FileTooLarge as exc:
                    size = max(exc.size, limit + 1)
                    result.too_large.append(f"{_label(item)}, over {human_size(limit)}")
                    store.record_attachment_file(lib, {**base, "size": size, "status": "too-large"})
                except FileUnavailable:
                    result.unavailable.append(_label(item))
                    store.record_attachment_file(lib, {**base, "status": "unavailable"})
                except (NotFoundError, ConfigError):
                    raise
                except Exception as exc:  # keep what arrived; the rest is tried again next time
                    failure = failure or exc
                    result.failed.append(_label(item))
                else:
                    if done.content_md5 != md5:
                        done.tmp.unlink(missing_ok=True)
                        result.failed.append(f"{_label(item)}: the file received does not match Zotero's checksum")
                    else:
                        rel = f"{md5[:2]}/{md5}{_suffix(by_key[item.key])}"
                        target = folder / rel
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(done.tmp, target)
                        old = rows.get(item.key, {}).get("path")
                        if old and old != rel:
                            old_paths.add(old)
                            result.replaced += 1
                        store.record_attachment_file(lib, {**base, "content_md5": done.content_md5,
                                                           "size": done.size, "path": rel, "status": "stored",
                                                           "content_type": base["content_type"] or done.content_type})
                        result.downloaded += 1
                        result.bytes += done.size
                progress.advance(1)
                if failure is None:
                    submit()
    if failure is not None:
        raise failure


__all__ = ["FILE_MODES", "FilesResult", "file_attachments", "human_size", "sync_files"]
