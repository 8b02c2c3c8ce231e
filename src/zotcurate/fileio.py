"""Writing files so that a failure never leaves half a file behind, and reading input files
with a bound on how much is read.

Every write error becomes one :class:`OutputError` sentence naming the path and what to do
(a full disk, a read-only folder, a file where a folder should be); every bounded read
refuses a file larger than its limit before it is in memory (``/dev/zero`` included).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from zotcurate.errors import OutputError

# A temporary file older than this that matches our pattern was left by a killed run (SIGKILL,
# power loss): the next write of the same file removes it. Younger ones may be another run's.
STALE_TEMP_AGE = 3600.0

_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or choose another place",
    errno.EDQUOT: "the disk quota is used up: free some space or choose another place",
    errno.EROFS: "the file system is read-only: choose a folder you can write to",
    errno.EACCES: "choose a folder you can write to, or make this one writable",
    errno.EPERM: "choose a folder you can write to, or make this one writable",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another path",
    errno.EISDIR: "that is a folder: give a file name",
    errno.EEXIST: "a file is in the way of a folder of that name: choose another path",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter one",
}


# The failures that say where a file went, not what a program did wrong.
WRITE_ERRNOS = frozenset(_ADVICE)


def output_error(path: Path, exc: OSError) -> OutputError:
    """One sentence for a failed write of ``path``: what the system said, and what to do."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(path) else ""
    advice = _ADVICE.get(exc.errno or 0, "choose another path")
    return OutputError(f"{path} cannot be written ({reason}{where}); {advice}.")


def usual_permissions(path: Path) -> None:
    """mkstemp makes 0600 files; give documents the mode a plain open() would (umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def remove_stale_temporaries_of(folder: Path, names: Iterable[str], *, max_age: float = STALE_TEMP_AGE) -> list[Path]:
    """:func:`remove_stale_temporaries` for many outputs of one folder in one pass (a writer that
    copies 2,000 cover images would otherwise list the folder 2,000 times)."""
    wanted = set(names)
    pattern = re.compile(r"\.(.+)\.[a-z0-9_]{8}(\.[^.]*)?\Z")
    cutoff = time.time() - max_age
    removed = []
    with suppress(OSError), os.scandir(folder) as entries:  # an unreadable folder fails in mkstemp
        for entry in entries:
            m = pattern.match(entry.name)
            if not m or f"{m[1]}{m[2] or ''}" not in wanted or not entry.is_file(follow_symlinks=False):
                continue
            with suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def remove_stale_temporaries(path: Path, *, max_age: float = STALE_TEMP_AGE) -> list[Path]:
    """Remove the temporary files a killed run left beside ``path`` (``.STEM.XXXXXXXX.SUFFIX``,
    as :func:`atomic_output` names them) once they are older than ``max_age`` seconds."""
    return remove_stale_temporaries_of(path.parent, [path.name], max_age=max_age)


@contextmanager
def atomic_output(path: Path, *, clean_stale: bool = True) -> Iterator[Path]:
    """A temporary file beside ``path`` to write (or to hand to a tool such as pandoc); it
    replaces ``path`` only when the block ends without an error, and is removed otherwise.

    Failures of its own steps (the folder, the temporary file, the rename) raise an
    :class:`OutputError`; what the block raises passes through unchanged."""
    if path.is_dir():
        raise output_error(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if clean_stale:  # False: the caller cleaned the folder once for all its outputs
            remove_stale_temporaries(path)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise output_error(path, exc) from exc
    tmp = Path(name)
    try:
        yield tmp
        try:
            usual_permissions(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            raise output_error(path, exc) from exc
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text through a temporary file in the same folder, then rename it."""
    with atomic_output(path) as tmp:
        try:
            with tmp.open("w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())  # a full disk shows here, not after the rename
        except OSError as exc:
            raise output_error(path, exc) from exc


# -- bounded reads ------------------------------------------------------------------------

MiB = 1024 * 1024


class FileTooLarge(Exception):
    """A file holds more than the limit its reader allows; the caller says what limit and why."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(f"{path} is larger than {format_size(limit)}")
        self.path = path
        self.limit = limit


def format_size(n: int) -> str:
    """``268435456`` → ``256 MiB``."""
    for unit, size in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.0f} {unit}"
    return f"{n} bytes"


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, or :class:`FileTooLarge` when it holds more than ``limit``.

    A regular file is refused by its size before anything is read; anything else (a pipe,
    ``/dev/zero``, ``/dev/stdin``) is read up to ``limit + 1`` bytes and no further.
    OSError (missing, unreadable, a folder) is left to the caller's message."""
    with path.open("rb") as fh:
        info = os.fstat(fh.fileno())
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise FileTooLarge(path, limit)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(path, limit)
    return data
