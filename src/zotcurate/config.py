from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
import tomli_w

from zotcurate.errors import ConfigError
from zotcurate.fileio import FileTooLarge, MiB, format_size, read_bounded
from zotcurate.model import LibraryRef
from zotcurate.output import plural

APP = "zotcurate"
DEFAULT_API_URL = "https://api.zotero.org"
DEFAULT_LOCAL_URL = "http://127.0.0.1:23119/api"
MAX_CONFIG_BYTES = 1 * MiB  # a config file is a few lines; more is a mistake (or /dev/zero)

# Limits on what a server may make zotcurate do (see README "Settings"): every request has a
# total deadline, and every wait a server asks for is capped, per wait and per run.
DEFAULT_API_DEADLINE = 120.0  # seconds for one API request, answer included, however slowly it trickles
DEFAULT_API_MAX_WAIT = 120.0  # the longest single Backoff / Retry-After wait obeyed
DEFAULT_API_WAIT_BUDGET = 600.0  # all such waits in one run together
DEFAULT_LINKS_MAX_DURATION = 4 * 3600.0  # a link audit stops checking after this long

# The settings a config file may hold.
_FILE_KEYS = ("api_key", "library", "store", "api_url", "local_url", "api_deadline", "api_max_wait",
              "api_wait_budget", "links_allow_private", "links_max_duration", "sync_files", "max_file_mb")
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
    api_deadline: float = DEFAULT_API_DEADLINE
    api_max_wait: float = DEFAULT_API_MAX_WAIT
    api_wait_budget: float = DEFAULT_API_WAIT_BUDGET
    links_allow_private: bool = True  # private networks and loopback; link-local and metadata never
    links_max_duration: float = DEFAULT_LINKS_MAX_DURATION
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
        """The API key, checked: it goes into an HTTP header, so it must be printable ASCII."""
        if not self.api_key:
            raise ConfigError(
                "No Zotero API key: set ZOTERO_API_KEY or run 'zotcurate init' "
                "(create a key at https://www.zotero.org/settings/keys)."
            )
        return check_api_key(self.api_key, self.sources.get("api_key") or "the settings")

    def with_library(self, library: LibraryRef) -> Settings:
        return replace(self, library=library)




def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("ZOTCURATE_CONFIG"):
        return Path(env["ZOTCURATE_CONFIG"])
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def default_store_path() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "zotcurate.sqlite"


def check_api_key(key: str, source: str) -> str:
    """``key`` without surrounding whitespace, or a ConfigError when a character of it cannot be
    sent in an HTTP header (a non-ASCII letter, a newline inside, a control character). The
    message says where and which position, never the key itself."""
    clean = key.strip()
    for position, char in enumerate(clean, start=1):
        if not ("!" <= char <= "~"):
            what = ("a space or a line break" if char.isspace() else
                    "a control character" if ord(char) < 32 or ord(char) == 127 else "a non-ASCII character")
            raise ConfigError(
                f"The Zotero API key from {source} has {what} at position {position}; a key is letters and "
                "digits only: copy it again from https://www.zotero.org/settings/keys."
            )
    return clean


def crash_report_dir() -> Path:
    """Where the details of an internal error are written: the platform's state folder
    (``~/.local/state/zotcurate/crashes`` on Linux, or under ``$XDG_STATE_HOME``)."""
    return Path(platformdirs.user_state_dir(APP)) / "crashes"


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
        data = tomllib.loads(read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except FileTooLarge as exc:
        raise ConfigError(f"The config file {path} is larger than {format_size(MAX_CONFIG_BYTES)}; a config file "
                          "is a few lines: fix or delete it.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The config file {path} is not UTF-8 text; fix or delete it.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML ({exc}); fix or delete it.") from exc
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read ({exc.strerror}).") from exc
    unknown = set(data) - set(_FILE_KEYS)
    if unknown:
        raise ConfigError(
            f"The config file {path} has unknown setting(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(_FILE_KEYS)}."
        )
    if not isinstance(data.get("sync_files", False), bool):
        raise ConfigError(f"The config file {path} sets sync_files to {data['sync_files']!r}; use true or false.")
    limit = data.get("max_file_mb", DEFAULT_MAX_FILE_MB)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        raise ConfigError(f"The config file {path} sets max_file_mb to {limit!r}; give a number of megabytes, "
                          "e.g. max_file_mb = 100.")
    return data


def parse_seconds(value: Any, name: str) -> float:
    """A positive, finite number of seconds: 90, "90", "90s", "10m", "2h"."""
    if isinstance(value, bool):
        value = None  # `true` is not a duration
    elif isinstance(value, int | float):
        number = float(value)
        if math.isfinite(number) and number > 0:
            return number
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value)
        if m and float(m.group(1)) > 0:
            return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    raise ConfigError(f"{name} is '{value}'; it must be a positive number of seconds (e.g. 120, 10m or 2h).")


def _require_web_address(name: str, value: str) -> None:
    # Checked here: a URL without a scheme would otherwise fail as an odd network error.
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} is '{value}'; it must be a web address such as {DEFAULT_API_URL}.")


def parse_flag(value: Any, name: str) -> bool:
    """A yes/no setting: true/false, 1/0, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} is '{value}'; it must be true or false.")


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
    if isinstance(key, str):
        key = key.strip()  # a pasted key often ends with a line break; one inside it is refused later
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

    def setting(name: str) -> tuple[Any, str]:
        """The raw value of a limit setting (``ZOTCURATE_<NAME>`` or the file), and how to name it."""
        env_name = f"ZOTCURATE_{name.upper()}"
        raw = pick(name, None, (env_name,))
        return raw, env_name if sources[name].startswith("environment") else f"{name} in {cfg_path}"

    def limit(name: str, default: float) -> float:
        raw, where = setting(name)
        return default if raw is None else parse_seconds(raw, where)

    private, private_where = setting("links_allow_private")
    api_url = (url or DEFAULT_API_URL).rstrip("/")
    local_url = local_url.rstrip("/")
    for name, value in (("api_url", api_url), ("local_url", local_url)):
        _require_web_address(name, value)
    return Settings(
        api_key=key,
        library=LibraryRef.parse(lib_text) if lib_text else None,
        store_path=Path(store_value).expanduser() if store_value else default_store_path(),
        api_url=api_url,
        local_url=local_url,
        config_path=cfg_path,
        api_deadline=limit("api_deadline", DEFAULT_API_DEADLINE),
        api_max_wait=limit("api_max_wait", DEFAULT_API_MAX_WAIT),
        api_wait_budget=limit("api_wait_budget", DEFAULT_API_WAIT_BUDGET),
        links_allow_private=True if private is None else parse_flag(private, private_where),
        links_max_duration=limit("links_max_duration", DEFAULT_LINKS_MAX_DURATION),
        sources=sources,
        sync_files=bool(file_values.get("sync_files", False)),
        max_file_mb=float(file_values.get("max_file_mb", DEFAULT_MAX_FILE_MB)),
    )
