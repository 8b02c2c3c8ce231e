"""Settings precedence, library names, the config file, and how errors reach the user."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from zotcurate.cli import main
from zotcurate.config import load_settings, mask_secret, write_config_file
from zotcurate.errors import ConfigError, ExitCode
from zotcurate.model import LibraryRef

KEY = "SECRETKEYabcdefgh12345678"


def test_library_names() -> None:
    assert LibraryRef.parse("group:12345").remote_id == "12345"
    assert LibraryRef.parse("user:7").remote_type == "user"
    assert LibraryRef.parse("local").kind == "local"
    assert LibraryRef.parse("local:group:9").remote_type == "group"
    assert LibraryRef.parse("file:numerique-sante").kind == "file"
    with pytest.raises(ConfigError, match="not a library name"):
        LibraryRef.parse("groups/12345")


def test_options_beat_environment_beat_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    write_config_file(cfg, {"api_key": "from-file", "library": "group:1", "store": str(tmp_path / "f.sqlite")})
    env = {"ZOTERO_API_KEY": "from-env", "ZOTERO_LIBRARY_ID": "2", "ZOTERO_LIBRARY_TYPE": "group"}
    s = load_settings(env=env, config_path=cfg, library="group:3")
    assert (s.api_key, s.library.name, s.store_path) == ("from-env", "group:3", tmp_path / "f.sqlite")
    assert s.sources["api_key"] == "environment (ZOTERO_API_KEY)"
    s = load_settings(env={}, config_path=cfg)
    assert (s.api_key, s.library.name) == ("from-file", "group:1")
    s = load_settings(env={"ZOTERO_LIBRARY_ID": "2"}, config_path=cfg)
    assert s.library.name == "group:2"  # ZOTERO_LIBRARY_TYPE defaults to group
    s = load_settings(env={"ZOTERO_LIBRARY_ID": "2", "ZOTERO_LIBRARY_TYPE": "user"}, config_path=tmp_path / "none.toml")
    assert s.library.name == "user:2"


def test_config_file_is_written_private(tmp_path: Path) -> None:
    cfg = tmp_path / "sub" / "config.toml"
    write_config_file(cfg, {"api_key": KEY, "library": "group:1"})
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600


def test_mask_never_shows_the_key() -> None:
    assert KEY not in mask_secret(KEY)
    assert mask_secret(KEY).endswith("5678")
    assert mask_secret(None) == "(not set)"


def test_config_show_masks_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ZOTERO_API_KEY": KEY, "ZOTCURATE_CONFIG": str(tmp_path / "c.toml"),
           "ZOTCURATE_STORE": str(tmp_path / "s.sqlite")}
    assert main(["config", "show", "--format", "json"], env=env) == ExitCode.OK
    out = capsys.readouterr().out
    assert KEY not in out and "********5678" in out


def test_broken_config_file_is_one_sentence_and_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("api_key = 'unterminated\n", encoding="utf-8")
    code = main(["status"], env={"ZOTCURATE_CONFIG": str(cfg), "ZOTCURATE_STORE": str(tmp_path / "s.sqlite")})
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG
    assert err.startswith("Error: The config file") and "not valid TOML" in err and "Traceback" not in err


def test_unknown_setting_in_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("apikey = 'x'\n", encoding="utf-8")
    env = {"ZOTCURATE_CONFIG": str(cfg), "ZOTCURATE_STORE": str(tmp_path / "s.sqlite")}
    assert main(["status"], env=env) == ExitCode.CONFIG
    assert "unknown setting(s) apikey" in capsys.readouterr().err


def test_sync_without_library_says_how_to_set_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ZOTCURATE_CONFIG": str(tmp_path / "c.toml"), "ZOTCURATE_STORE": str(tmp_path / "s.sqlite")}
    assert main(["sync"], env=env) == ExitCode.CONFIG
    assert "No library given" in capsys.readouterr().err


def test_local_api_url_from_environment_beats_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    write_config_file(cfg, {"local_url": "http://127.0.0.1:1/api"})
    assert load_settings(env={}, config_path=cfg).local_url == "http://127.0.0.1:1/api"
    env = {"ZOTCURATE_LOCAL_URL": "http://127.0.0.1:2/api/"}
    assert load_settings(env=env, config_path=cfg).local_url == "http://127.0.0.1:2/api"
