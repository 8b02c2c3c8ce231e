"""Hostile data, broken disks and bugs (issue 12, the data/disk/CLI half): a damaged store, a
read-only store file or folder, a full disk, output paths that cannot be written, manifest
names that try to leave --output, keys that cannot go into a header, zip bombs and endless
inputs, collection cycles, terminal escape sequences in titles, two runs creating one store,
temporary files a killed run left, and a bug in zotcurate itself.

Every case asserts the documented exit code (through ExitCode), one sentence on stderr and no
traceback, that the store is as it was (its bytes, or PRAGMA integrity_check and its rows),
and that no secret reaches any output. Read-only and full file systems are real where the
machine allows it (tmpfs and read-only bind mounts, as root); otherwise they are simulated.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLE, TEST_API_KEY, TEST_GROUP_ID
from zotcurate.cli import main
from zotcurate.errors import ExitCode
from zotcurate.fileio import STALE_TEMP_AGE
from zotcurate.output import printable, render_table, to_csv, to_json
from zotcurate.store import SCHEMA_VERSION, Store

ROOT = Path(__file__).resolve().parents[1]
LIB = f"group:{TEST_GROUP_ID}"
# What a terminal acts on (tab and newline are layout, and allowed).
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture(autouse=True)
def crash_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Internal-error reports go to the platform's state folder: here, one inside tmp_path."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state / "zotcurate" / "crashes"


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # The API key is set even for offline commands: no output may ever show it.
    # The default store is one in tmp_path too, never the user's (commands given --store ignore it).
    return {"ZOTCURATE_CONFIG": str(tmp_path / "none.toml"), "ZOTERO_API_KEY": TEST_API_KEY,
            "ZOTCURATE_STORE": str(tmp_path / "default-store.sqlite"), **extra}


def run(argv: list[str], capsys: pytest.CaptureFixture[str], env: dict[str, str]) -> tuple[ExitCode, str, str]:
    code = main(argv, env=env)
    captured = capsys.readouterr()
    secrets = {TEST_API_KEY, env.get("ZOTERO_API_KEY", "").strip()}
    for stream in (captured.out, captured.err):
        assert "Traceback" not in stream
        assert not [secret for secret in secrets if secret and secret in stream]
    return code, captured.out, captured.err


def one_sentence(err: str) -> str:
    """stderr holds exactly one line, the error sentence."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(("Error: ", "Internal error")), lines[0]
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def contents(path: Path) -> tuple[str, dict[str, int], str]:
    """PRAGMA integrity_check, the row count of each table, and a digest of every row."""
    uri = path.resolve().as_uri()
    mode = "?mode=ro" if os.access(path.parent, os.W_OK) else "?mode=ro&immutable=1"
    db = sqlite3.connect(uri + mode, uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
        digest = hashlib.sha256("\n".join(db.iterdump()).encode("utf-8")).hexdigest()
    finally:
        db.close()
    return integrity, counts, digest


def example_store(path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["--store", str(path), "import", str(EXAMPLE), "--library", "file:ex"],
                env={"ZOTCURATE_CONFIG": str(path.parent / "none.toml")}) is ExitCode.OK
    capsys.readouterr()
    return path


# -- real read-only and full file systems, where the machine allows them -------------------

def _can_mount() -> bool:
    return os.name == "posix" and os.geteuid() == 0 and shutil.which("mount") is not None


def _mount(*args: str) -> bool:
    return _can_mount() and subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[bool]:
    """A small tmpfs at ``folder`` (True), or a plain folder when mounting is not allowed (False)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield mounted
    finally:
        if mounted:
            _umount(folder)


@contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """Make ``folder`` (already filled) read-only: a read-only tmpfs as root, else chmod."""
    if _can_mount():
        saved = folder.with_name(folder.name + ".saved")
        shutil.copytree(folder, saved)
        shutil.rmtree(folder)
        with tmpfs(folder, "8m") as mounted:
            assert mounted
            shutil.copytree(saved, folder, dirs_exist_ok=True)
            assert _mount("-o", "remount,ro", str(folder))
            yield
        return
    if os.geteuid() == 0:
        pytest.skip("root without mount: no way to make a folder read-only here")
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)


@contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    """Make one file read-only, its folder writable: a read-only bind mount as root, else chmod."""
    if _can_mount() and _mount("--bind", str(path), str(path)):
        try:
            assert _mount("-o", "remount,bind,ro", str(path))
            yield
        finally:
            _umount(path)
        return
    if os.geteuid() == 0:
        pytest.skip("root without mount: no way to make a file read-only here")
    path.chmod(0o444)
    try:
        yield
    finally:
        path.chmod(0o644)


# -- 1. a damaged store: exit 9 with advice, the file untouched -----------------------------

def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _truncated(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.truncate(20000)


def _broken_table(path: Path) -> None:  # valid SQLite, but the items table is not ours
    db = sqlite3.connect(path)
    db.execute("DROP TABLE items")
    db.execute("CREATE TABLE items (x)")
    db.commit()
    db.close()


def _damaged_pages(path: Path) -> None:  # the schema reads, the data pages do not
    data = bytearray(path.read_bytes())
    for offset in range(64 * 1024, len(data) - 4096, 4096):
        data[offset:offset + 256] = b"\xff" * 256
    path.write_bytes(bytes(data))


DAMAGE = {"garbage": _garbage, "truncated": _truncated, "broken-table": _broken_table, "damaged-pages": _damaged_pages}
READERS = {
    "collections": ["collections"],
    "check": ["check"],
    "render": ["render", "--collection", "Numérique et santé", "-o", "{out}"],
    "export": ["export", "-o", "{out}/x.json"],
    "status": ["status"],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_store_is_exit_9_for_every_command_and_stays_as_it_was(
        damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = example_store(tmp_path / "s.sqlite", capsys)
    DAMAGE[damage](store)
    before = sha256(store)
    for name, argv in READERS.items():
        args = [a.replace("{out}", str(tmp_path / "out")) for a in argv]
        code, _out, err = run(["--store", str(store), "--library", "file:ex", *args], capsys, base_env(tmp_path))
        sentence = one_sentence(err)
        assert code is ExitCode.STORE, (name, err)
        assert f"The store {store}" in sentence and "damaged or not a zotcurate store" in sentence, name
        assert "Restore it from a backup, or move it aside" in sentence, name
        assert sha256(store) == before, name
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_sync_into_a_damaged_store_is_exit_9_before_any_request(
        damage: str, zotero_example, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    store = example_store(tmp_path / "s.sqlite", capsys)
    DAMAGE[damage](store)
    before = sha256(store)
    zotero_example.reset_requests()
    env = base_env(tmp_path, ZOTCURATE_API_URL=zotero_example.url)
    code, _out, err = run(["--store", str(store), "sync", "--library", LIB], capsys, env)
    assert code is ExitCode.STORE and "damaged or not a zotcurate store" in one_sentence(err)
    assert sha256(store) == before and zotero_example.requests == []


# -- 2. a read-only store file or folder: readers work, writers say so (exit 11) -------------

def _reader_outputs(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[ExitCode, str]]:
    out = {}
    for name, argv in (("collections", ["collections", "--format", "json"]), ("check", ["check", "--format", "json"]),
                       ("status", ["status", "--format", "json"]),
                       ("export", ["export", "--format", "csl-json", "-o", str(tmp_path / "export.json")])):
        code, stdout, err = run(["--store", str(store), "--library", "file:ex", *argv], capsys, base_env(tmp_path))
        assert "Error" not in err, (name, err)
        out[name] = (code, stdout.replace(str(store), "STORE"))
        if name == "export":
            out[name] = (code, (tmp_path / "export.json").read_text(encoding="utf-8"))
    return out


def _writer_refusals(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     server_url: str) -> list[str]:
    sentences = []
    for argv in (["import", str(EXAMPLE), "--library", "file:ex"], ["sync", "--library", LIB]):
        env = base_env(tmp_path, ZOTCURATE_API_URL=server_url)
        code, _out, err = run(["--store", str(store), *argv], capsys, env)
        sentence = one_sentence(err)
        assert code is ExitCode.OUTPUT, (argv, err)
        assert "read-only" in sentence and "cannot be written" in sentence
        assert "aside" not in sentence and "schema" not in sentence and "damaged" not in sentence
        sentences.append(sentence)
    return sentences


def test_a_read_only_store_file_serves_readers_and_refuses_writers_plainly(
        zotero_example, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    store = example_store(tmp_path / "s.sqlite", capsys)
    expected = _reader_outputs(store, tmp_path, capsys)
    before = contents(store)
    with read_only_file(store):
        assert _reader_outputs(store, tmp_path, capsys) == expected
        _writer_refusals(store, tmp_path, capsys, zotero_example.url)
        assert contents(store) == before and before[0] == "ok"


def test_a_read_only_store_folder_serves_readers_and_refuses_writers_plainly(
        zotero_example, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "data"
    folder.mkdir()
    store = example_store(folder / "s.sqlite", capsys)
    expected = _reader_outputs(store, tmp_path, capsys)
    before = contents(store)
    Store(store).close()  # the last writer's close removes -wal and -shm: none can be made in the folder now
    assert sorted(p.name for p in folder.iterdir()) == ["s.sqlite"]
    with read_only_folder(folder):
        assert _reader_outputs(store, tmp_path, capsys) == expected  # no -shm can be made: opened immutable
        _writer_refusals(store, tmp_path, capsys, zotero_example.url)
        code, _out, err = run(["--store", str(folder / "new.sqlite"), "import", str(EXAMPLE), "--library", "file:ex"],
                              capsys, base_env(tmp_path))
        assert code is ExitCode.OUTPUT and "a folder you can write to" in one_sentence(err)
        assert contents(store) == before and before[0] == "ok"


# -- 3. a full disk: exit 11, the store as it was ------------------------------------------

@contextmanager
def full_store_disk(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A file system too small for the example library: a 320 KB tmpfs, or (without mount) a
    SQLite page limit, which fails exactly as a full disk does (SQLITE_FULL)."""
    with tmpfs(folder, "320k") as mounted:
        if not mounted:
            real_connect = sqlite3.connect

            def limited(*args: Any, **kwargs: Any) -> sqlite3.Connection:
                db = real_connect(*args, **kwargs)
                db.execute("PRAGMA max_page_count = 20")
                return db

            monkeypatch.setattr(sqlite3, "connect", limited)
        yield


def test_a_full_disk_stops_an_import_with_exit_11_and_the_store_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    small = tmp_path / "small.json"
    small.write_text(json.dumps(json.loads((EXAMPLE / "items.json").read_text(encoding="utf-8"))[:3]),
                     encoding="utf-8")
    folder = tmp_path / "disk"
    with full_store_disk(folder, monkeypatch):
        store = folder / "s.sqlite"
        code, _out, err = run(["--store", str(store), "import", str(small), "--library", "file:ex"], capsys,
                             base_env(tmp_path))
        assert code is ExitCode.OK, err
        before = contents(store)
        code, _out, err = run(["--store", str(store), "import", str(EXAMPLE), "--library", "file:ex"], capsys,
                             base_env(tmp_path))
        sentence = one_sentence(err)
        assert code is ExitCode.OUTPUT
        assert "the disk is full" in sentence and "nothing was changed" in sentence and "aside" not in sentence
        assert contents(store) == before and before[0] == "ok" and before[1]["items"] == 3


# -- 4. export -o that cannot be written: exit 11 --------------------------------------------

def test_export_under_a_file_onto_a_folder_or_onto_a_full_disk_is_exit_11(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    store = example_store(tmp_path / "s.sqlite", capsys)
    before = contents(store)
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    a_folder = tmp_path / "a-folder.bib"
    a_folder.mkdir()
    cases = {
        "under a file": (["--format", "csl-json", "-o", str(a_file / "x.json")], "a file is in the way"),
        "zotero-json folder onto a file": (["-o", str(a_file)], "a file is in the way"),
        "onto a folder": (["--format", "bibtex", "-o", str(a_folder)], "that is a folder"),
    }
    for name, (argv, advice) in cases.items():
        code, _out, err = run(["--store", str(store), "-l", "file:ex", "export", *argv], capsys, base_env(tmp_path))
        sentence = one_sentence(err)
        assert code is ExitCode.OUTPUT and "cannot be written" in sentence and advice in sentence, name
    assert a_file.read_text(encoding="utf-8") == "x" and list(a_folder.iterdir()) == []

    disk = tmp_path / "disk"
    with tmpfs(disk, "64k") as mounted:
        if not mounted:  # the write of the temporary file fails as on a full disk
            def no_space(fd: int) -> None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            monkeypatch.setattr(os, "fsync", no_space)
        code, _out, err = run(["--store", str(store), "-l", "file:ex", "export", "-o", str(disk / "all.json")], capsys,
                             base_env(tmp_path))
        assert code is ExitCode.OUTPUT and "the disk is full" in one_sentence(err)
        assert list(disk.iterdir()) == []  # no half file, no temporary file
    assert contents(store) == before


# -- 5. manifest names: no NUL or line break, never outside --output --------------------------

def _manifest(tmp_path: Path, name_toml: str) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    item = {"key": "ITEM0001", "version": 1, "data": {"key": "ITEM0001", "version": 1, "itemType": "report",
                                                      "title": "Un", "date": "2020", "collections": ["AAAAAAAA"],
                                                      "tags": [], "relations": {}}}
    coll = {"key": "AAAAAAAA", "version": 1, "data": {"key": "AAAAAAAA", "version": 1, "name": "Thème",
                                                      "parentCollection": False}}
    (data / "items.json").write_text(json.dumps([item]), encoding="utf-8")
    (data / "collections.json").write_text(json.dumps([coll]), encoding="utf-8")
    path = tmp_path / "bib.toml"
    path.write_text(f'{name_toml}\ntitle = "Essai"\nformats = ["md"]\n\n[source]\nlibrary = "file:essai"\n'
                    'import = ["data"]\ncollection = "Thème"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(("name_toml", "what"), [
    ('name = "a\\u0000b"', "control character"),
    ('name = "a\\nb"', "line break"),
    ('name = "a\\u009bb"', "control character"),
    ('name = "../../escaped"', "names a folder"),
    ('name = "/tmp/zotcurate-escaped"', "names a folder"),
    ('name = "sub/escaped"', "names a folder"),
    ('name = "..\\\\escaped"', "names a folder"),
    ('name = ".."', "not a file name"),
])
def test_a_manifest_name_cannot_leave_the_output_folder(name_toml: str, what: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    manifest = _manifest(work, name_toml)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _out, err = run(["--store", str(tmp_path / "s.sqlite"), "render", str(manifest), "-o", str(work / "out")],
                         capsys, base_env(tmp_path))
    sentence = one_sentence(err)
    assert code is ExitCode.CONFIG and "'name'" in sentence and what in sentence
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert not Path("/tmp/zotcurate-escaped.md").exists()


def test_a_plain_manifest_name_still_names_the_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _manifest(tmp_path, 'name = "bibliographie été 2025"')
    code, _out, err = run(["render", str(manifest), "-o", str(tmp_path / "out")], capsys, base_env(tmp_path))
    assert code is ExitCode.OK, err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["bibliographie été 2025.md"]


# -- 6. API keys that cannot go into a header --------------------------------------------------

@pytest.mark.parametrize(("key", "what"), [
    ("zTestKéy0123456789abcdef", "a non-ASCII character at position 7"),
    ("zTestKey0123\n456789abcdef", "a space or a line break at position 13"),
    ("zTestKey0123\x1b456789abcde", "a control character at position 13"),
])
def test_an_api_key_that_cannot_be_sent_is_a_config_error_that_never_shows_it(
        key: str, what: str, zotero_example, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    store = example_store(tmp_path / "s.sqlite", capsys)
    before = contents(store)
    zotero_example.reset_requests()
    env = base_env(tmp_path, ZOTERO_API_KEY=key, ZOTCURATE_API_URL=zotero_example.url, ZOTCURATE_STORE=str(store))
    for argv in (["sync", "--library", LIB], ["--library", LIB, "doctor"]):
        code, out, err = run(argv, capsys, env)
        assert key not in out + err and re.sub("[^!-~]", "", key) not in out + err
        if argv[0] == "sync":
            sentence = one_sentence(err)
            assert code is ExitCode.CONFIG and what in sentence and "environment (ZOTERO_API_KEY)" in sentence
        else:
            assert code is ExitCode.CONFIG and what in out
    assert zotero_example.requests == []  # refused before anything was sent
    assert contents(store) == before


def test_a_key_with_a_trailing_newline_is_used_without_it(zotero_example, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    env = base_env(tmp_path, ZOTERO_API_KEY=TEST_API_KEY + "\n", ZOTCURATE_API_URL=zotero_example.url)
    code, _out, err = run(["--store", str(tmp_path / "s.sqlite"), "sync", "--library", LIB], capsys, env)
    assert code is ExitCode.OK, err


# -- 7. unbounded inputs: zip bombs, /dev/zero, huge files -----------------------------------

def _docx(path: Path, parts: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


MINIMAL_PARTS = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>",
                 "word/styles.xml": b"<w:styles/>"}


def _lie_about_size(path: Path, member: str, declared: int) -> None:
    """Rewrite the uncompressed size of ``member`` in its local header and the central directory."""
    data = bytearray(path.read_bytes())
    name = member.encode("ascii")
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = data.find(signature)
        while at != -1:
            if data[at + name_at:at + name_at + len(name)] == name:
                data[at + size_at:at + size_at + 4] = declared.to_bytes(4, "little")
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def test_a_zip_bomb_template_is_refused_before_pandoc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _manifest(tmp_path, 'name = "essai"')
    out = tmp_path / "out"
    bombs = {
        # 64 MiB of zeros in 64 KB: a thousand times smaller than what it inflates to.
        "ratio": (_docx(tmp_path / "ratio.docx", {**MINIMAL_PARTS, "word/media/image1.png": bytes(64 << 20)}),
                  "inflates 1"),
        # A directory that declares 3 GiB for one part (what pandoc would try to allocate).
        "declared": (_docx(tmp_path / "declared.docx", {**MINIMAL_PARTS, "word/media/image1.png": bytes(1 << 20)}),
                     "inflates"),
        # A directory that declares 1 KiB for a part that inflates to 1 MiB: caught while inflating.
        "lying": (_docx(tmp_path / "lying.docx", {**MINIMAL_PARTS, "word/media/image1.png": bytes(1 << 20)}),
                  "is not a .docx file"),
    }
    _lie_about_size(bombs["declared"][0], "word/media/image1.png", 3 << 30)
    _lie_about_size(bombs["lying"][0], "word/media/image1.png", 1024)
    assert bombs["ratio"][0].stat().st_size < 200_000
    for name, (bomb, says) in bombs.items():
        started = time.monotonic()
        argv = ["render", str(manifest), "--format", "docx,md", "--template", str(bomb), "-o", str(out)]
        code, _stdout, err = run(argv, capsys, base_env(tmp_path))
        sentence = one_sentence(err)
        assert code is ExitCode.CONFIG and f"The Word template {bomb}" in sentence and says in sentence, (name, err)
        assert time.monotonic() - started < 30  # a guard against a hang, not a performance target
        assert not out.exists() and not (tmp_path / "default-store.sqlite").exists()  # refused before any work


def test_a_real_template_still_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _manifest(tmp_path, 'name = "essai"')
    template = ROOT / "styles" / "reference.docx"
    code, _out, err = run(["render", str(manifest), "--format", "docx", "--template", str(template), "-o",
                          str(tmp_path / "out")], capsys, base_env(tmp_path))
    assert code is ExitCode.OK, err
    assert (tmp_path / "out" / "essai.docx").is_file()


def _bounded_run(argv: list[str], tmp_path: Path, limit: int = 2 << 30) -> subprocess.CompletedProcess[str]:
    """The CLI in a process whose address space is capped: an unbounded read would fail there."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, **base_env(tmp_path)}
    return subprocess.run([sys.executable, "-m", "zotcurate", *argv], capture_output=True, text=True, env=env,
                          timeout=120, preexec_fn=cap, check=False)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_importing_dev_zero_or_a_huge_file_stops_at_the_bound(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    done = _bounded_run(["--store", str(store), "import", "/dev/zero", "--library", "file:zero"], tmp_path)
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert one_sentence(done.stderr) == ("Error: /dev/zero is larger than 256 MiB, the most an import reads; export "
                                         "a smaller part (e.g. one collection) and import that.")
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:
        fh.truncate(300 << 20)  # sparse: refused by its size, before a byte is read
    done = _bounded_run(["--store", str(store), "import", str(huge), "--library", "file:huge"], tmp_path, 1 << 30)
    assert done.returncode == ExitCode.INPUT and "larger than 256 MiB" in one_sentence(done.stderr)
    assert "Traceback" not in done.stderr + done.stdout and TEST_API_KEY not in done.stderr + done.stdout


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_style_of_dev_zero_stops_at_the_bound(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _manifest(tmp_path, 'name = "essai"')
    code, _out, err = run(["render", str(manifest), "--style", "/dev/zero", "-o", str(tmp_path / "out")], capsys,
                         base_env(tmp_path))
    sentence = one_sentence(err)
    assert code is ExitCode.CONFIG and "Style file /dev/zero is larger than 16 MiB" in sentence
    assert not (tmp_path / "out").exists() and not (tmp_path / "default-store.sqlite").exists()


# -- 8. collection cycles: shown, warned about, addressable ----------------------------------

def _coll(key: str, name: str, parent: str | bool = False) -> dict[str, Any]:
    return {"key": key, "version": 1, "data": {"key": key, "version": 1, "name": name, "parentCollection": parent}}


def _item(key: str, title: str, colls: list[str], **fields: Any) -> dict[str, Any]:
    data = {"key": key, "version": 1, "itemType": "report", "title": title, "date": "2020", "collections": colls,
            "tags": [], "relations": {}, **fields}
    return {"key": key, "version": 1, "data": data}


def _library(tmp_path: Path, items: list[dict[str, Any]], collections: list[dict[str, Any]],
             capsys: pytest.CaptureFixture[str]) -> Path:
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"items": items, "collections": collections}, ensure_ascii=False), encoding="utf-8")
    store = tmp_path / "s.sqlite"
    code, _out, err = run(["--store", str(store), "import", str(export), "--library", "file:lib"], capsys,
                         base_env(tmp_path))
    assert code is ExitCode.OK, err
    return store


CYCLE_COLLECTIONS = [
    _coll("AAAAAAAA", "Alpha", "BBBBBBBB"), _coll("BBBBBBBB", "Beta", "AAAAAAAA"),
    _coll("CCCCCCCC", "Gamma", "AAAAAAAA"), _coll("DDDDDDDD", "Delta"), _coll("EEEEEEEE", "Epsilon", "EEEEEEEE"),
]
CYCLE_ITEMS = [_item("ITEM000A", "Dans Alpha", ["AAAAAAAA"]), _item("ITEM000B", "Dans Beta", ["BBBBBBBB"]),
               _item("ITEM000C", "Dans Gamma", ["CCCCCCCC"]), _item("ITEM000D", "Dans Delta", ["DDDDDDDD"]),
               _item("ITEM000E", "Dans Epsilon", ["EEEEEEEE"])]


def test_collection_cycles_are_listed_warned_about_and_addressable(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    store = _library(tmp_path, CYCLE_ITEMS, CYCLE_COLLECTIONS, capsys)
    before = contents(store)
    env = base_env(tmp_path)
    code, out, err = run(["--store", str(store), "-l", "file:lib", "collections", "--format", "json"], capsys, env)
    assert code is ExitCode.OK
    listed = {c["key"]: c["path"] for c in json.loads(out)}
    assert listed == {"AAAAAAAA": "Alpha", "BBBBBBBB": "Alpha/Beta", "CCCCCCCC": "Alpha/Gamma",
                      "DDDDDDDD": "Delta", "EEEEEEEE": "Epsilon"}
    warnings = err.splitlines()
    assert warnings == [
        "Warning: the collections 'Alpha' → 'Beta' → 'Alpha' are each other's parents; 'Alpha' is listed at the top "
        "level. Move one of them in Zotero and sync again.",
        "Warning: the collections 'Epsilon' → 'Epsilon' are each other's parents; 'Epsilon' is listed at the top "
        "level. Move one of them in Zotero and sync again.",
    ]
    code, out, err = run(["--store", str(store), "-l", "file:lib", "collections"], capsys, env)
    assert out.splitlines() == ["Alpha (1)  [AAAAAAAA]", "  Beta (1)  [BBBBBBBB]", "  Gamma (1)  [CCCCCCCC]",
                                "Delta (1)  [DDDDDDDD]", "Epsilon (1)  [EEEEEEEE]"]
    for ref, keys in (("Alpha", {"ITEM000A", "ITEM000B", "ITEM000C"}), ("Alpha/Beta", {"ITEM000B"}),
                      ("BBBBBBBB", {"ITEM000B"}), ("EEEEEEEE", {"ITEM000E"}), ("Epsilon", {"ITEM000E"})):
        target = tmp_path / "x.json"
        code, out, err = run(["--store", str(store), "-l", "file:lib", "export", "-c", ref, "-o", str(target)],
                             capsys, env)
        assert code is ExitCode.OK, (ref, err)
        assert {o["key"] for o in json.loads(target.read_text(encoding="utf-8"))} == keys, ref
    code, out, err = run(["--store", str(store), "-l", "file:lib", "render", "--collection", "Alpha", "--format", "md",
                          "-o", str(tmp_path / "out")], capsys, env)
    assert code is ExitCode.OK, err
    text = (tmp_path / "out" / "Alpha.md").read_text(encoding="utf-8")
    assert "Dans Alpha" in text and "Dans Beta" in text and "Dans Gamma" in text and "Dans Delta" not in text
    assert contents(store) == before


# -- 9. escape sequences in what group members typed: printable on every terminal output -------

HOSTILE = ("Évil \x1b]0;pwned\x07 \x1b[2J\x1b[H \x1b]52;c;ZXZpbA==\x07 \x9b31m \x9d0;t\x9c \x1bP+q\x1b\\ "
           "[bold]markup[/bold] [/x] \u202eevil\u202c end")


def test_escape_sequences_in_titles_and_names_never_reach_the_terminal(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    items = [_item("ITEM0001", "Titre " + HOSTILE, ["AAAAAAAA"], url="https://example.org/\x1b[2J"),
             _item("ITEM0002", "", ["AAAAAAAA"])]
    store = _library(tmp_path, items, [_coll("AAAAAAAA", "Coll " + HOSTILE)], capsys)
    env = base_env(tmp_path)
    outputs = []
    for argv in (["collections"], ["check"], ["check", "--format", "md"], ["check", "--format", "csv"],
                 ["status"], ["render", "--collection", "AAAAAAAA", "--format", "md", "-o", str(tmp_path / "o")],
                 ["export", "-c", "Coll nope", "-o", str(tmp_path / "x")]):  # the error's "did you mean"
        code, out, err = run(["--store", str(store), "-l", "file:lib", *argv], capsys, env)
        assert code in (ExitCode.OK, ExitCode.FINDINGS, ExitCode.NOT_FOUND), (argv, err)
        for stream in (out, err):
            assert not TERMINAL_CONTROLS.search(stream), (argv, stream)
            assert "\u202e" not in stream
        outputs.append(out + err)
    assert "\\x1b]0;pwned\\x07" in outputs[0] and "[bold]markup[/bold] [/x]" in outputs[0]  # shown, not obeyed
    assert "\\x1b]52;c;ZXZpbA==\\x07" in outputs[1]
    # JSON keeps the data exactly (its encoder escapes every control character).
    code, out, err = run(["--store", str(store), "-l", "file:lib", "collections", "--format", "json"], capsys, env)
    assert not TERMINAL_CONTROLS.search(out) and json.loads(out)[0]["name"] == "Coll " + HOSTILE


def test_the_sanitiser_shows_every_control_character_and_keeps_layout_only_when_asked() -> None:
    assert printable("a\x1b[2Jb\x07\x9b\u202e\n\t") == "a\\x1b[2Jb\\x07\\x9b\\u202e\\x0a\\x09"
    assert printable("a\x1bb\nc\td\re", layout=True) == "a\\x1bb\nc\td\\x0de"
    assert printable("Numérique et santé — 1. Données") == "Numérique et santé — 1. Données"
    table = render_table([{"t": "x [/foo] \x1b]0;T\x07"}], ["t"])
    assert "x [/foo] \\x1b]0;T\\x07" in table and not TERMINAL_CONTROLS.search(table)
    assert json.loads(to_json({"t": "\x1b\x9b\u202e"})) == {"t": "\x1b\x9b\u202e"}
    assert not TERMINAL_CONTROLS.search(to_json({"t": "\x1b\x9b"}))
    assert to_csv([{"t": "a\x1bb\nc"}], ["t"]) == 't\n"a\\x1bb\nc"\n'


# -- 10. two runs creating one new store at once ---------------------------------------------

RACER = """
import sys, time
from zotcurate.store import Store
start, step, paths = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
for i, path in enumerate(paths):
    time.sleep(max(0.0, start + i * step - time.time()))  # every racer opens path i at the same moment
    try:
        Store(path).close()
        print("ok", flush=True)
    except Exception as exc:
        print(f"FAILED {path}: {exc}", flush=True)
"""


def test_parallel_runs_creating_the_same_new_store_all_succeed(tmp_path: Path) -> None:
    tries, racers = 25, 4
    paths = [str(tmp_path / f"try{i}" / "store.sqlite") for i in range(tries)]
    start = time.time() + 2.0  # time for every racer to import zotcurate
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(start), "0.1", *paths], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(racers)]
    results = [p.communicate(timeout=120) for p in procs]
    lines = [line for out, _ in results for line in out.splitlines()]
    assert lines == ["ok"] * (tries * racers), [line for line in lines if line != "ok"] + [e for _, e in results]
    for path in paths:
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'libraries'").fetchone()[0] == 1
        db.close()


# -- 11. temporary files a killed run left ----------------------------------------------------

def test_stale_temporary_files_of_a_killed_run_are_removed_on_the_next_write(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = example_store(tmp_path / "s.sqlite", capsys)
    out = tmp_path / "out"
    out.mkdir()
    stale, fresh = out / ".all.k3x9_q2a.json", out / ".all.zz00aa11.json"
    unrelated = [out / ".all.json.bak", out / ".other.k3x9_q2a.json", out / ".all.k3x9.json"]
    for path in (stale, fresh, *unrelated):
        path.write_text("{", encoding="utf-8")
    old = time.time() - STALE_TEMP_AGE - 60
    for path in (stale, *unrelated):
        os.utime(path, (old, old))
    code, _stdout, err = run(["--store", str(store), "-l", "file:ex", "export", "-o", str(out / "all.json")], capsys,
                            base_env(tmp_path))
    assert code is ExitCode.OK, err
    assert not stale.exists()  # ours, and older than an hour
    assert fresh.exists() and all(p.exists() for p in unrelated)  # maybe another run's, or not ours
    assert len(json.loads((out / "all.json").read_text(encoding="utf-8"))["items"]) == 99


# -- 12. a bug: exit 70, one line, the details in a private file without the key ---------------

def test_an_unforeseen_error_is_exit_70_with_a_private_report_and_the_store_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        crash_reports: Path) -> None:
    store = example_store(tmp_path / "s.sqlite", capsys)
    before = contents(store)

    def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"an unforeseen bug (header Zotero-API-Key: {TEST_API_KEY})")

    monkeypatch.setattr(Store, "set_library_version", bug)  # inside the import's transaction
    small = tmp_path / "one.json"
    small.write_text(json.dumps([_item("ITEM0001", "Un", [])]), encoding="utf-8")
    code, _out, err = run(["--store", str(store), "import", str(small), "--library", "file:ex"], capsys,
                         base_env(tmp_path))
    sentence = one_sentence(err)
    assert code is ExitCode.INTERNAL and code not in (ExitCode.OK, ExitCode.FINDINGS)  # systemd: not a success
    reports = list(crash_reports.glob("crash-*.txt"))
    assert len(reports) == 1
    assert sentence == (f"Internal error (RuntimeError), a bug in zotcurate: the details are in {reports[0]}; please "
                        "include that file in a bug report. Nothing half-done was kept in the store.")
    report = reports[0].read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in report and "RuntimeError: an unforeseen bug" in report
    assert f"command: zotcurate --store {store} import {small}" in report
    assert TEST_API_KEY not in report and "Zotero-API-Key: ********" in report
    assert stat.S_IMODE(reports[0].stat().st_mode) == 0o600
    assert contents(store) == before  # the import's transaction was rolled back


def test_an_unforeseen_error_says_so_even_when_no_report_can_be_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folders should be", encoding="utf-8")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocked))
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(blocked))  # the fallback folder is blocked too

    def bug(*args: Any, **kwargs: Any) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("zotcurate.cli.library.library_status", bug)
    Store(tmp_path / "s.sqlite").close()  # status reads a store; it never creates one
    code, _out, err = run(["--store", str(tmp_path / "s.sqlite"), "status"], capsys, base_env(tmp_path))
    sentence = one_sentence(err)
    assert code is ExitCode.INTERNAL and "Internal error (KeyError)" in sentence
    assert "the details could not be written" in sentence


def test_the_readme_unit_still_counts_only_findings_as_success() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "SuccessExitStatus=1\n" in readme
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert f"| {int(ExitCode.INTERNAL)} | an internal error" in table
    assert f"| {int(ExitCode.OUTPUT)} | a file or folder could not be written" in table


# -- 13. a reader that closed the pipe -------------------------------------------------------

def test_a_closed_pipe_is_one_sentence_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = example_store(tmp_path / "s.sqlite", capsys)
    env = {**os.environ, **base_env(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "zotcurate", "--store", str(store), "-l", "file:ex", "check",
                             "--format", "csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head -0` does
    err = proc.stderr.read().decode("utf-8")
    assert proc.wait(timeout=60) == ExitCode.OUTPUT
    assert one_sentence(err) == ("Error: the output was cut short: the program reading it (such as head) closed "
                                 "the pipe.")
    assert "Traceback" not in err and "Exception ignored" not in err


def test_a_store_path_that_is_a_folder_is_exit_9_and_says_so(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for argv in (["status"], ["import", str(EXAMPLE), "--library", "file:ex"]):
        code, _out, err = run(["--store", str(folder), *argv], capsys, base_env(tmp_path))
        assert code is ExitCode.STORE
        assert one_sentence(err) == (f"Error: The store {folder} is a folder, not a file; point --store at the "
                                     "store file.")
    assert list(folder.iterdir()) == []
