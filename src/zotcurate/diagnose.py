"""``zotcurate doctor`` and ``init``: explain what is wrong with the set-up, one sentence each."""

from __future__ import annotations

from dataclasses import dataclass

from zotcurate.config import Settings, config_file_is_private, read_config_file
from zotcurate.errors import ExitCode, ZotcurateError
from zotcurate.model import LibraryRef
from zotcurate.output import plural
from zotcurate.store import Store
from zotcurate.zotero.client import KeyInfo, ZoteroClient


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str
    exit_code: int = 0


def diagnose(settings: Settings) -> list[Finding]:
    """Check config, key scope, network and store; never raises for a problem it can name."""
    out: list[Finding] = []
    path = settings.config_path
    try:
        read_config_file(path)
        if not path.exists():
            out.append(Finding("config", True,
                               f"No config file at {path} (settings come from options and environment)."))
        elif not config_file_is_private(path):
            out.append(Finding("config", False, f"{path} can be read by other users; run 'chmod 600 {path}'.",
                               int(ExitCode.CONFIG)))
        else:
            out.append(Finding("config", True, f"Config file {path} is readable and private."))
    except ZotcurateError as exc:
        out.append(Finding("config", False, exc.message, int(exc.exit_code)))

    lib = settings.library
    if lib is None:
        out.append(Finding("library", False, "No library is set: pass --library group:ID or run 'zotcurate init'.",
                           int(ExitCode.CONFIG)))
    else:
        out.append(Finding("library", True, f"Library: {lib.name}."))

    if lib is not None and lib.is_web:
        if not settings.api_key:
            out.append(Finding("key", False, "No API key: set ZOTERO_API_KEY or run 'zotcurate init'.",
                               int(ExitCode.CONFIG)))
        else:
            out += _check_key(settings, lib)
    elif lib is not None and lib.kind == "local":
        try:
            with ZoteroClient(settings, lib) as client:
                client.item_versions(0, top=True)
            out.append(Finding("network", True, f"Zotero's local API answers at {settings.local_url}."))
        except ZotcurateError as exc:
            out.append(Finding("network", False, exc.message, int(exc.exit_code)))

    if not settings.store_path.is_file():  # doctor only looks: it never creates the store
        how = f"'zotcurate sync --library {lib.name}'" if lib is not None and lib.kind != "file" else (
            "'zotcurate sync' (or 'zotcurate import FOLDER')")
        out.append(Finding("store", True, f"No store at {settings.store_path} yet: {how} makes it."))
        return out
    try:
        with Store(settings.store_path, read_only=True) as store:
            libs = {lib_.name: lib_ for lib_ in store.libraries()}
        out.append(Finding("store", True, f"Store {settings.store_path} opens "
                                          f"({plural(len(libs), 'library', 'libraries')})."))
        if lib is not None and lib.name not in libs:
            out.append(Finding("store", True, f"{lib.name} has not been synced yet: run 'zotcurate sync'."))
        elif lib is not None:
            out.append(Finding("store", True, f"{lib.name} is at version {libs[lib.name].version}, "
                                              f"last synced {libs[lib.name].synced_at or 'never'}."))
    except ZotcurateError as exc:
        out.append(Finding("store", False, exc.message, int(exc.exit_code)))
    return out


def _check_key(settings: Settings, lib: LibraryRef) -> list[Finding]:
    try:
        with ZoteroClient(settings, lib) as client:
            info = client.key_info()
            if not info.can_read(lib):
                return [Finding("key", False, f"The API key works but cannot read {lib.name}: give it read access "
                                              "to this group at https://www.zotero.org/settings/keys.",
                                int(ExitCode.AUTH))]
            client.item_versions(10**12, top=True)  # cheap: proves the library answers
            note = "" if info.can_write(lib) else " (read-only: write-back with --apply will be refused)"
            return [Finding("network", True, f"Zotero answers at {settings.api_url}."),
                    Finding("key", True, f"The API key of {info.username or 'user ' + info.user_id} can read "
                                         f"{lib.name}{note}.")]
    except ZotcurateError as exc:
        return [Finding("key", False, exc.message, int(exc.exit_code))]


def readable_groups(settings: Settings) -> tuple[KeyInfo, list[dict[str, str]]]:
    """The key's owner and the groups it can read, for ``init``."""
    probe = LibraryRef.parse("user:0")
    with ZoteroClient(settings, probe) as client:
        info = client.key_info()
        groups = client.groups(info.user_id) if info.user_id else []
    readable = info.readable_groups()
    if readable is not None:
        groups = [g for g in groups if g["id"] in readable]
    return info, groups
