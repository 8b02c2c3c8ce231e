"""Typed errors and the documented exit codes.

Library code raises these; the CLI (``zotcurate.cli``) is the one place that turns
them into a one-sentence message and an exit code. Every message says what happened
and how to fix it, and never contains a secret.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, stable for cron, systemd and scripts (documented in the README)."""

    OK = 0
    FINDINGS = 1  # the job ran and found problems at or above --fail-on
    USAGE = 2  # bad command line (click's own code)
    CONFIG = 3  # missing or broken configuration, profile, manifest or style
    AUTH = 4  # the API key is wrong or lacks access
    NOT_FOUND = 5  # unknown library, group, collection or item
    NETWORK = 6  # the server could not be reached or kept failing
    INPUT = 7  # a malformed input file
    CONFLICT = 8  # a version conflict on write-back that a retry did not solve
    STORE = 9  # the local store is unreadable or from a newer zotcurate
    LOCKED = 10  # another run holds the lock
    OUTPUT = 11  # a file or folder could not be written (read-only, full disk, not a folder)
    INTERNAL = 70  # an unforeseen error (a bug): details written to a file, the store kept as it was
    INTERRUPTED = 130  # Ctrl-C


class ZotcurateError(Exception):
    """Base of every error zotcurate reports to users.

    Raise a subclass, never this class itself: the subclass says which exit code the
    user gets (a test walks ``src/`` for bare raises).
    """

    exit_code: ExitCode = ExitCode.CONFIG

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ZotcurateError):
    """Missing or invalid settings, profile, manifest or style."""

    exit_code = ExitCode.CONFIG


class LibraryKindError(ConfigError):
    """The library cannot do what was asked: a ``file:`` library has no Zotero server to
    sync from or write to, and Zotero's local API is read-only. The library setting is
    what to change, so this is a configuration error (exit 3), not a network one."""

    exit_code = ExitCode.CONFIG


class AuthError(ZotcurateError):
    """The Zotero API refused the key (401/403)."""

    exit_code = ExitCode.AUTH


class NotFoundError(ZotcurateError):
    """A library, group, collection or item that does not exist."""

    exit_code = ExitCode.NOT_FOUND


class NetworkError(ZotcurateError):
    """The server could not be reached, or kept failing after retries."""

    exit_code = ExitCode.NETWORK


class InputFileError(ZotcurateError):
    """A file to import is malformed; the message names the file and position."""

    exit_code = ExitCode.INPUT


class ConflictError(ZotcurateError):
    """A write-back hit a version conflict that a re-sync and one retry did not solve."""

    exit_code = ExitCode.CONFLICT


class StoreError(ZotcurateError):
    """The local SQLite store cannot be used."""

    exit_code = ExitCode.STORE


class StoreWriteError(StoreError):
    """The store cannot be written: a read-only file or folder, or a full disk. The store
    itself is fine (readers still work on it), so this is an output problem (exit 11)."""

    exit_code = ExitCode.OUTPUT


class OutputError(ZotcurateError):
    """A file or folder cannot be written: read-only, disk full, a file where a folder
    should be (or the other way round)."""

    exit_code = ExitCode.OUTPUT


class LockedError(ZotcurateError):
    """Another zotcurate run holds the lock."""

    exit_code = ExitCode.LOCKED


class RenderError(ZotcurateError):
    """A style, template or document could not be rendered."""

    exit_code = ExitCode.CONFIG
