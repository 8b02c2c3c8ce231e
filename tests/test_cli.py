"""The command line as a whole: one way to an exit status, the terminal as a value, shared
options, status rows from the library, the write-back flow that check, links and audit
share, and how zotcurate.cli is put together. Servers are on loopback only."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest

import zotcurate
import zotcurate.errors as errors_module
from conftest import EXAMPLE, TEST_API_KEY, TEST_GROUP_ID
from loopback_web import LoopbackWeb
from zotcurate.cli import AppContext, Environment, cli, entry_point, main
from zotcurate.cli.app import exit_status
from zotcurate.config import load_settings
from zotcurate.errors import ConfigError, ExitCode, LibraryKindError, ZotcurateError
from zotcurate.model import LibraryRef
from zotcurate.output import NoticeOnly, ProgressReporter, RichProgress
from zotcurate.status import library_status
from zotcurate.store import Store
from zotcurate.zotero.writeback import ApplyResult, Change, Plan, format_plan, require_writable

SRC = Path(zotcurate.__file__).resolve().parent
ROOT = SRC.parents[1]
CLI_MODULES = sorted((SRC / "cli").glob("*.py"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@pytest.fixture
def example_store(tmp_path: Path) -> Path:
    """The bundled example imported as file:ex (no network)."""
    path = tmp_path / "store.sqlite"
    assert main(["--store", str(path), "import", str(EXAMPLE), "--library", "file:ex"], env={}) == ExitCode.OK
    return path


# -- exit status: one mechanism ------------------------------------------------------


def test_exit_status_is_the_one_conversion() -> None:
    assert exit_status(None) is ExitCode.OK
    assert exit_status(ExitCode.FINDINGS) is ExitCode.FINDINGS
    assert exit_status(0) is ExitCode.OK  # what click hands back for --help and --version
    for wrong in ("1", True, 1.0):
        with pytest.raises(TypeError):
            exit_status(wrong)


def test_help_version_and_a_bad_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], env={}) is ExitCode.OK
    assert "Usage: zotcurate" in capsys.readouterr().out
    assert main(["--version"], env={}) is ExitCode.OK
    assert "version" in capsys.readouterr().out
    assert main(["no-such-command"], env={}) is ExitCode.USAGE
    assert "No such command" in capsys.readouterr().err


def test_commands_never_set_the_exit_status_themselves() -> None:
    # Findings and errors reach the exit status only through main(): no ctx.exit/sys.exit in a command.
    calls = []
    for path in CLI_MODULES:
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exit":
                calls.append(f"{path.name}:{node.lineno}")
    assert calls == ["app.py:" + str(_entry_point_exit_line())]


def _entry_point_exit_line() -> int:
    tree = parse(SRC / "cli" / "app.py")
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "entry_point")
    return next(n.lineno for n in ast.walk(function) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute) and n.func.attr == "exit")


def test_no_bare_zotcurate_error_is_raised() -> None:
    # The base class has no code of its own to give: every raise names the subclass that does.
    bare = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id == "ZotcurateError":
                    bare.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert bare == []


def test_every_exit_code_and_error_type_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}
    types: list[type[ZotcurateError]] = [
        obj for obj in vars(errors_module).values()
        if isinstance(obj, type) and issubclass(obj, ZotcurateError) and obj is not ZotcurateError]
    assert len(types) >= 10 and all(int(t.exit_code) in documented for t in types)


def test_a_file_library_cannot_be_synced_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ZOTCURATE_CONFIG": str(tmp_path / "none.toml"), "ZOTCURATE_STORE": str(tmp_path / "s.sqlite")}
    assert main(["sync", "--library", "file:veille"], env=env) is ExitCode.CONFIG
    assert "file:veille is imported from files" in capsys.readouterr().err
    assert issubclass(LibraryKindError, ConfigError) and LibraryKindError.exit_code is ExitCode.CONFIG


# -- the environment object ------------------------------------------------------------


def test_environment_detect_keeps_the_variables_and_honours_no_color() -> None:
    env = Environment.detect({"NO_COLOR": "1", "ZOTERO_API_KEY": "k"})
    assert env.variables == {"NO_COLOR": "1", "ZOTERO_API_KEY": "k"} and env.color is False
    assert AppContext(env).env["ZOTERO_API_KEY"] == "k"


def test_page_width_follows_the_terminal_it_is_told_about() -> None:
    assert Environment(stdout_isatty=True, columns=240).page_width == 240
    assert Environment(stdout_isatty=True, columns=60).page_width == 100  # folded, not squeezed
    assert Environment(stdout_isatty=False, columns=240).page_width == 160  # a pipe or a file


def test_check_table_is_as_wide_as_the_terminal(example_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--store", str(example_store), "check", "--library", "file:ex"]
    capsys.readouterr()
    assert main(args, env={}, environment=Environment(stdout_isatty=True, columns=230)) is ExitCode.FINDINGS
    wide = max(len(line) for line in capsys.readouterr().out.splitlines())
    assert main(args, env={}) is ExitCode.FINDINGS  # captured stdout: no terminal
    page = max(len(line) for line in capsys.readouterr().out.splitlines())
    assert page <= 160 < wide <= 230


def test_progress_follows_the_terminal_it_is_told_about() -> None:
    def reporter(app: AppContext) -> ProgressReporter:
        with app.progress() as progress:
            return progress

    assert isinstance(reporter(AppContext(Environment(stderr_isatty=True))), RichProgress)
    assert isinstance(reporter(AppContext(Environment(stderr_isatty=False))), NoticeOnly)
    quiet = reporter(AppContext(Environment(stderr_isatty=True), quiet=True))
    assert type(quiet) is ProgressReporter  # silent


# -- shared options ----------------------------------------------------------------------


def every_command(group: click.Group = cli) -> Iterator[click.Command]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield command
        if isinstance(command, click.Group):
            yield from every_command(command)


def options_named(name: str) -> list[click.Option]:
    return [p for c in [cli, *every_command()] for p in c.params if isinstance(p, click.Option) and name in p.opts]


def test_shared_options_read_the_same_everywhere() -> None:
    libraries = options_named("--library")
    assert len(libraries) == 9
    for option in libraries:
        assert option.opts == ["--library", "-l"] and option.name == "library"
        assert re.fullmatch(r"The library [^:]+: .+ \[default: [^\]]+\]\.", option.help or ""), option.help
    collections = options_named("--collection")
    assert len(collections) == 6  # sync --files took one (issue 14)
    for option in collections:
        assert option.opts == ["--collection", "-c"] and option.metavar == "PATH"
        assert "this collection (key or path)" in (option.help or "")
        assert (option.help or "").endswith("; repeatable." if option.multiple else "sub-collections.")
    formats = options_named("--format")
    assert len(formats) == 10 and {option.name for option in formats} == {"fmt"}


# -- status ---------------------------------------------------------------------------


def test_status_prints_the_rows_the_library_makes(example_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Store(example_store) as store:
        rows = library_status(store)
    assert [(r["library"], r["items"], r["collections"]) for r in rows] == [("file:ex", 99, 6)]
    capsys.readouterr()
    assert main(["--store", str(example_store), "status", "--format", "json"], env={}) is ExitCode.OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["libraries"] == json.loads(json.dumps(rows))


# -- write-back: one flow ------------------------------------------------------------


def test_the_plan_has_one_shape() -> None:
    def again(items: list) -> list[Change]:
        return []

    tags = Plan([Change("AAAA2222", add_tags=("à compléter",)), Change("BBBB2222", remove_tags=("à compléter",))],
                again, titles={"AAAA2222": "Rapport sans éditeur"}, tags=("à compléter",))
    links = Plan([Change("AAAA2222", add_tags=("lien mort",)),
                  Change("CCCC2222", set_fields={"url": "https://example.org/new"})],
                 again, titles={"CCCC2222": "Page déplacée"}, tags=("lien mort",))
    assert format_plan([tags, links]) == (
        "Write-back: 3 item(s) to change in Zotero.\n"
        "Tag 'à compléter': add to 1 item(s), remove from 1 item(s).\n"
        "Tag 'lien mort': add to 1 item(s), remove from 0 item(s).\n"
        "  AAAA2222  +à compléter  Rapport sans éditeur\n"
        "  BBBB2222  -à compléter\n"
        "  AAAA2222  +lien mort\n"
        "  CCCC2222  url='https://example.org/new'  Page déplacée"
    )
    assert format_plan([Plan([], again, tags=("x",))]) == "Write-back: nothing to change in Zotero."


def test_the_results_of_several_plans_add_up() -> None:
    first = ApplyResult(updated=["A", "B"], unchanged=["C"], requests=1)
    first.merge(ApplyResult(updated=["B", "C"], unchanged=["D"], retried=["C"], failed={"E": "HTTP 500"}, requests=2))
    assert (first.updated, first.unchanged, first.retried) == (["A", "B", "C"], ["D"], ["C"])
    assert first.failed == {"E": "HTTP 500"} and first.requests == 3
    assert first.summary("group:1") == "Wrote 3 item(s) to group:1 (1 after a re-sync); 1 needed nothing."


def test_one_guard_before_writing(tmp_path: Path) -> None:
    settings = load_settings(env={"ZOTCURATE_CONFIG": str(tmp_path / "none.toml")}, store=tmp_path / "s.sqlite")
    with pytest.raises(LibraryKindError, match="local API is read-only"):
        require_writable(settings, LibraryRef.parse("local"))
    with pytest.raises(LibraryKindError, match="no Zotero server"):
        require_writable(settings, LibraryRef.parse("file:veille"))
    with pytest.raises(ConfigError, match="No Zotero API key"):
        require_writable(settings, LibraryRef.parse("group:1"))
    keyed = load_settings(env={"ZOTCURATE_CONFIG": str(tmp_path / "none.toml"), "ZOTERO_API_KEY": "k"},
                          store=tmp_path / "s.sqlite")
    assert require_writable(keyed, LibraryRef.parse("user:1")) == "k"


WRITERS = {
    "check": ["check", "--tag", "à compléter", "--apply"],
    "links": ["links", "--tag-broken", "lien mort", "--apply"],
    "audit": ["audit", "--tag-broken", "lien mort", "--apply", "--output", "AUDITS"],
}


@pytest.mark.parametrize("command", sorted(WRITERS))
@pytest.mark.parametrize(("library", "message"), [
    ("local", "local is not a Zotero group or user library (Zotero's local API is read-only)"),
    ("group:1", "No Zotero API key"),
])
def test_every_command_refuses_to_write_the_same_way_before_any_work(
        command: str, library: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ZOTCURATE_CONFIG": str(tmp_path / "none.toml"), "ZOTCURATE_STORE": str(tmp_path / "s.sqlite"),
           "ZOTCURATE_LOCAL_URL": "http://127.0.0.1:9", "ZOTCURATE_API_URL": "http://127.0.0.1:9"}
    args = [str(tmp_path / "a") if a == "AUDITS" else a for a in WRITERS[command]]
    assert main([args[0], "--library", library, *args[1:]], env=env) is ExitCode.CONFIG
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "a").exists()  # the audit stopped before it synced or reported
    with Store(tmp_path / "s.sqlite") as store:
        assert store.libraries() == []  # nothing synced, checked or audited


@pytest.fixture
def web() -> Iterator[LoopbackWeb]:
    with LoopbackWeb(base="127.0.6") as w:
        w.host("site").page("/gone", status=404)
        yield w


def test_check_links_and_audit_print_the_plan_alike(zotero_server, web: LoopbackWeb, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    gone = zotero_server.put_item(zotero_server.prefix, {
        "itemType": "webpage", "title": "Page perdue", "url": web.url("site", "/gone"), "tags": []})
    thin = zotero_server.put_item(zotero_server.prefix, {"itemType": "report", "title": "Sans éditeur"})
    env = {"ZOTERO_API_KEY": TEST_API_KEY, "ZOTCURATE_API_URL": zotero_server.url,
           "ZOTCURATE_STORE": str(tmp_path / "store.sqlite"), "ZOTCURATE_CONFIG": str(tmp_path / "c.toml"),
           "ZOTCURATE_DOI_RESOLVER": "http://127.0.0.1:9/"}
    lib = ["--library", f"group:{TEST_GROUP_ID}"]
    assert main(["-q", "sync", *lib], env=env) is ExitCode.OK
    capsys.readouterr()
    assert main(["check", *lib, "--tag", "à compléter"], env=env) is ExitCode.FINDINGS
    check_out = capsys.readouterr().out
    assert main(["links", *lib, "--tag-broken", "lien mort", "--timeout", "2", "--retries", "0"],
                env=env) is ExitCode.FINDINGS
    links_out = capsys.readouterr().out
    assert main(["audit", *lib, "--no-sync", "--confirm-after", "1", "--output", str(tmp_path / "a"),
                 "--tag-errors", "à compléter", "--tag-broken", "lien mort"], env=env) is ExitCode.FINDINGS
    assert "not written (add --apply)" in capsys.readouterr().out
    report = next((tmp_path / "a").iterdir()).joinpath("report.md").read_text(encoding="utf-8")

    tag_line = "Tag 'à compléter': add to 2 item(s), remove from 0 item(s)."  # the page lacks fields too
    thin_line = f"  {thin['key']}  +à compléter  Sans éditeur"
    gone_line = f"  {gone['key']}  +lien mort  Page perdue"
    assert "Write-back: 2 item(s) to change in Zotero." in check_out and tag_line in check_out
    assert thin_line in check_out.splitlines()
    assert "Write-back: 1 item(s) to change in Zotero." in links_out
    assert "Tag 'lien mort': add to 1 item(s), remove from 0 item(s)." in links_out
    assert gone_line in links_out.splitlines()
    assert "Nothing was written: add --apply to write these changes to Zotero." in check_out
    assert "Nothing was written: add --apply to write these changes to Zotero." in links_out
    # The audit's report lists the same lines, both plans together.
    assert "Write-back: 2 item(s) to change in Zotero." in report and tag_line in report
    assert thin_line in report.splitlines() and gone_line in report.splitlines()
    assert zotero_server.requests and not any(r.method == "POST" for r in zotero_server.requests)


# -- how zotcurate.cli is put together --------------------------------------------------


def test_command_modules_import_the_app_never_the_package() -> None:
    for path in CLI_MODULES:
        if path.name == "__init__.py":
            continue
        imported = set()
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        assert "zotcurate.cli" not in imported, path.name
        if path.name in ("app.py", "options.py", "environment.py"):  # below every command
            assert not {m for m in imported if m.startswith("zotcurate.cli.")} - {
                "zotcurate.cli.environment", "zotcurate.cli.options"}, path.name


@pytest.mark.parametrize("module", ["zotcurate.cli.check", "zotcurate.cli.app", "zotcurate.cli.library"])
def test_any_cli_module_can_be_imported_first(module: str) -> None:
    code = (f"import {module}\nfrom zotcurate.cli import cli\n"
            "print(' '.join(sorted(cli.commands)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8",
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["audit", "check", "collections", "config", "doctor", "export", "import", "init",
                                   "links", "profile", "render", "status", "styles", "sync"]


def test_the_console_script_is_cli_entry_point() -> None:
    (script,) = entry_points(group="console_scripts", name="zotcurate")
    assert script.value == "zotcurate.cli:entry_point" and script.load() is entry_point
