from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from zotcurate.errors import ConfigError
from zotcurate.model import LibraryRef
from zotcurate.output import plural

APP = "zotcurate"
DEFAULT_API_URL = "https://api.zotero.org"
DEFAULT_LOCAL_URL = "http://127.0.0.1:23119/api"
DEFAULT_MAX_FILE_MB = 100  # sync --files skips larger attachment files, with a notice


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``sources`` says where each value came from (for ``doctor``)."""

    api_key: str | None = None
    library: LibraryRef | None = None
    store_path: Path = field(default_factory=lambda: default_store_path())
    api_url: str = DEFAULT_API_URL
    local_url: str = DEFAULT_LOCAL_URL
    config_path: Path = field(default_factory=lambda: default_config_path())
    sources: Mapping[str, str] = field(default_factory=dict)
    sync_files: bool = False  # 'sync' downloads attachment files too (config: sync_files = true)
    max_file_mb: float = DEFAULT_MAX_FILE_MB  # config: max_file_mb

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    def require_library(self, stored: Sequence[str] = ()) -> LibraryRef:
        """The library set by option, environment or config file; else the only library of
        the store (``stored``: the names it holds), as git uses the only remote."""
        if self.library is not None:
            return self.library
        if len(stored) == 1:
            return LibraryRef.parse(stored[0])
        if stored:
            raise ConfigError(
                f"No library given, and the store holds {plural(len(stored), 'library')} "
                f"({', '.join(stored)}): pass --library with one of them, or set one with 'zotcurate init'."
            )
        raise ConfigError(
            "No library given: pass --library group:ID, set ZOTERO_LIBRARY_ID and "
            "ZOTERO_LIBRARY_TYPE, or run 'zotcurate init'."
        )

    def require_api_key(self) -> str:
        if not self.api_key:
            raise ConfigError(
                "No Zotero API key: set ZOTERO_API_KEY or run 'zotcurate init' "
                "(create a key at https://www.zotero.org/settings/keys)."
            )
        return self.api_key

    def with_library(self, library: LibraryRef) -> Settings:
        return replace(self, library=library)


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("ZOTCURATE_CONFIG"):
        return Path(env["ZOTCURATE_CONFIG"])
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def default_store_path() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "zotcurate.sqlite"


def mask_secret(secret: str | None) -> str:
    """Show that a secret is set without showing it: only its last 4 characters."""
    if not secret:
        return "(not set)"
    tail = secret[-4:] if len(secret) >= 12 else ""
    return "********" + tail


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML ({exc}); fix or delete it.") from exc
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read ({exc.strerror}).") from exc
    unknown = set(data) - {"api_key", "library", "store", "api_url", "local_url", "sync_files", "max_file_mb"}
    if unknown:
        raise ConfigError(
            f"The config file {path} has unknown setting(s) {', '.join(sorted(unknown))}; "
            "allowed: api_key, library, store, api_url, local_url, sync_files, max_file_mb."
        )
    if not isinstance(data.get("sync_files", False), bool):
        raise ConfigError(f"The config file {path} sets sync_files to {data['sync_files']!r}; use true or false.")
    limit = data.get("max_file_mb", DEFAULT_MAX_FILE_MB)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        raise ConfigError(f"The config file {path} sets max_file_mb to {limit!r}; give a number of megabytes, "
                          "e.g. max_file_mb = 100.")
    return data


def config_file_is_private(path: Path) -> bool:
    """True when nobody but the owner can read the file (mode 0600 or stricter)."""
    if not path.exists() or os.name != "posix":
        return True
    return not (path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def write_config_file(path: Path, values: Mapping[str, Any]) -> None:
    """Write the config atomically with mode 0600 (it holds the API key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: str(v) for k, v in values.items() if v is not None}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(tomli_w.dumps(clean))
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def load_settings(
    *,
    env: Mapping[str, str],
    library: str | None = None,
    api_key: str | None = None,
    store: str | Path | None = None,
    api_url: str | None = None,
    config_path: str | Path | None = None,
) -> Settings:
    """Resolve settings from options, then ``env``, then the config file."""
    cfg_path = Path(config_path) if config_path else default_config_path(env)
    file_values = read_config_file(cfg_path)
    sources: dict[str, str] = {}

    def pick(name: str, option: Any, env_names: tuple[str, ...]) -> Any:
        if option not in (None, ""):
            sources[name] = "option"
            return option
        for env_name in env_names:
            if env.get(env_name):
                sources[name] = f"environment ({env_name})"
                return env[env_name]
        if file_values.get(name) not in (None, ""):
            sources[name] = f"config file ({cfg_path})"
            return file_values[name]
        sources[name] = "default"
        return None

    key = pick("api_key", api_key, ("ZOTERO_API_KEY",))
    lib_text = library or None
    if lib_text:
        sources["library"] = "option"
    elif env.get("ZOTERO_LIBRARY_ID"):
        lib_type = (env.get("ZOTERO_LIBRARY_TYPE") or "group").strip().lower()
        if lib_type not in ("group", "user"):
            raise ConfigError(f"ZOTERO_LIBRARY_TYPE is '{lib_type}'; it must be 'group' or 'user'.")
        lib_text = f"{lib_type}:{env['ZOTERO_LIBRARY_ID'].strip()}"
        sources["library"] = "environment (ZOTERO_LIBRARY_ID)"
    else:
        lib_text = pick("library", None, ())
    store_value = pick("store", store, ("ZOTCURATE_STORE",))
    url = pick("api_url", api_url, ("ZOTCURATE_API_URL",))
    local_url = env.get("ZOTCURATE_LOCAL_URL") or file_values.get("local_url") or DEFAULT_LOCAL_URL
    return Settings(
        api_key=key,
        library=LibraryRef.parse(lib_text) if lib_text else None,
        store_path=Path(store_value).expanduser() if store_value else default_store_path(),
        api_url=(url or DEFAULT_API_URL).rstrip("/"),
        local_url=local_url.rstrip("/"),
        config_path=cfg_path,
        sources=sources,
        sync_files=bool(file_values.get("sync_files", False)),
        max_file_mb=float(file_values.get("max_file_mb", DEFAULT_MAX_FILE_MB)),
    )
