"""BibTeX and biblatex files as people have them: every damage pattern of issue 11, one small fixture each.

The fixtures are written here (never copied from another project): each reproduces the shape of a
defect seen in real files (Better BibTeX, JabRef, Web of Science, Mendeley exports).
"""

from __future__ import annotations

import re
import time
import unicodedata
from pathlib import Path

import pytest

from zotcurate.cli import main
from zotcurate.errors import ExitCode, InputFileError
from zotcurate.formats.base import ImportOptions
from zotcurate.formats.bibtex import read_bibtex
from zotcurate.formats.files import detect_format, read_path
from zotcurate.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"


def bib(tmp_path: Path, text: str, name: str = "refs.bib", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def one(tmp_path: Path, text: str) -> dict:
    parsed = read_bibtex(bib(tmp_path, text))
    assert len(parsed.items) == 1, parsed.warnings
    return parsed.items[0]["data"]


def title_of_entry(tmp_path: Path, latex: str) -> str:
    return one(tmp_path, f"@article{{k,\n  title = {{{latex}}},\n  year = 2020\n}}\n")["title"]


# -- LaTeX → Unicode: whole commands only -----------------------------------------------------

@pytest.mark.parametrize(("latex", "text"), [
    (r"$\langle 110\rangle$ Silicon Nanowires", "⟨110⟩ Silicon Nanowires"),  # was "łangle110ångle"
    (r"\overline{x} and \lambda", "x and λ"),  # was "øverline", "łambda"
    (r"A $\rho$ meson", "A ρ meson"),  # was "h̊o"
    (r"Wait\ldots{} then", "Wait… then"),  # was "łdots"
    (r"{\relax Ph}ase transitions", '<span class="nocase">Ph</span>ase transitions'),  # was "e̊lax Ph"
    (r"Gol'shte\u\i n", "Gol'shteĭn"),  # unbraced breve over a dotless i
    (r"Tret'\t{ia}kov", "Tret'i͡akov"),  # the tie accent
    (r"medi\c c\~ao \v S \d s", "medição Š ṣ"),  # unbraced cedilla, caron, dot below
    (r"\'{E}cole \`a {\"U}ber {\c c}a", "École à Über ça"),
    (r"\noopsort{b}Zed", "Zed"),  # a sort key prints nothing
    (r"H$_2$O and $^{13}$C", "H<sub>2</sub>O and <sup>13</sup>C"),  # math converted where it has a reading…
    (r"Solving $\frac{a}{b}$ fast", r"Solving $\frac{a}{b}$ fast"),  # … else kept exactly as written
    (r"50\% \& co~1 -- 2", "50% & co\u00a01 – 2"),
    (r"{\em Old} and {\bf style} {\sc fonts}",  # old-style declarations, as in pre-LaTeX2e files
     '<i>Old</i> and <b>style</b> <span style="font-variant:small-caps;">fonts</span>'),
    (r"A \frac{1}{2} out of math, a tilde \~{} and a caret \^{}", "A 1/2 out of math, a tilde ~ and a caret ^"),
])
def test_latex_becomes_unicode_command_by_command(tmp_path: Path, latex: str, text: str) -> None:
    assert title_of_entry(tmp_path, latex) == text


DAMAGE = re.compile(r"\\[A-Za-z]+")


def damaged(text: str) -> list[str]:
    """The damage patterns of issue 11: a raw command outside math, ł/ø/å made from \\l/\\o/\\r commands,
    and combining marks with no letter under them."""
    problems = []
    outside_math = re.sub(r"\$[^$]*\$", "", text)
    if m := DAMAGE.search(outside_math):
        problems.append(f"raw command {m[0]}")
    if re.search(r"[łøå](angle|verline|ambda|dots|ho|elax)", text):
        problems.append("a command read by its first letter")
    decomposed = unicodedata.normalize("NFC", text)
    if re.search(r"(^|[\s{(])[\u0300-\u036f]", decomposed):
        problems.append("a loose combining mark")
    return problems


def test_no_damage_pattern_in_any_title_or_name(tmp_path: Path) -> None:
    text = (FIXTURES / "latex-damage.bib").read_text(encoding="utf-8")
    parsed = read_bibtex(bib(tmp_path, text))
    assert len(parsed.items) == text.count("\n@")
    seen = 0
    for obj in parsed.items:
        data = obj["data"]
        values = [data.get("title", ""), data.get("publicationTitle", "")]
        values += [" ".join((c.get("name", ""), c.get("lastName", ""), c.get("firstName", "")))
                   for c in data["creators"]]
        for value in values:
            seen += bool(value)
            assert not damaged(value), (obj["data"].get("citationKey"), value, damaged(value))
    assert seen >= 20


# -- crossref, xdata, names, DOIs ---------------------------------------------------------------

def test_crossref_child_inherits_date_book_title_and_editors(tmp_path: Path) -> None:
    parsed = read_bibtex(bib(tmp_path, (FIXTURES / "crossref.biblatex").read_text(encoding="utf-8"), "x.biblatex"))
    by_key = {o["data"]["citationKey"]: o["data"] for o in parsed.items}
    assert set(by_key) == {"proc2020", "paper2020", "talk2020"}  # the @xdata entry is no reference
    child = by_key["paper2020"]
    assert child["itemType"] == "conferencePaper"
    assert child["proceedingsTitle"] == 'Proceedings of the <span class="nocase">IEEE</span> Conference'
    assert (child["date"], child["place"], child["publisher"]) == ("2020-06", "Lyon", "IEEE Press")
    assert [(c["creatorType"], c["lastName"]) for c in child["creators"]] == [
        ("author", "Martin"), ("editor", "Smith"), ("editor", "Doe")]
    assert child["title"] == "Wires"  # the parent's title is the child's book title, not its title
    talk = by_key["talk2020"]  # xdata fills what the entry lacks
    assert (talk["publisher"], talk["place"]) == ("IEEE Press", "Lyon")
    assert parsed.warnings == []


def test_missing_crossref_is_a_warning_naming_the_line(tmp_path: Path) -> None:
    parsed = read_bibtex(bib(tmp_path, "@inproceedings{a,\n  title = {T},\n  crossref = {nowhere}\n}\n"))
    assert len(parsed.items) == 1
    assert parsed.warnings == [f"{tmp_path / 'refs.bib'}: line 1: crossref 'nowhere' of '@inproceedings{{a,' names "
                               "no entry of the file; the entry was imported without the fields it would inherit."]


def test_biblatex_extended_name_format(tmp_path: Path) -> None:
    data = one(tmp_path, "@book{k,\n  author = {family=Boronat, given=Philippe, given-i={{Ph}} and "
                         "family=Fontaine, prefix=de la, useprefix=true, given=Jean and "
                         "given=Frank G., family=Frank, suffix=Jr.},\n  title = {T}\n}\n")
    assert data["creators"] == [
        {"creatorType": "author", "firstName": "Philippe", "lastName": "Boronat"},
        {"creatorType": "author", "firstName": "Jean", "lastName": "de la Fontaine"},
        {"creatorType": "author", "firstName": "Frank G., Jr.", "lastName": "Frank"},
    ]


def test_protective_braces_of_doi_url_isbn_are_stripped(tmp_path: Path) -> None:
    data = one(tmp_path, "@article{k,\n  DOI = {{10.1016/j.jbi.2020.103456}},\n  URL = {{https://example.org/a_b}},\n"
                         "  ISBN = {{978-2-07-036822-8}},\n  title = {T}\n}\n")
    assert (data["DOI"], data["url"]) == ("10.1016/j.jbi.2020.103456", "https://example.org/a_b")
    book = one(tmp_path, "@book{k,\n  isbn = {{978-2-07-036822-8}},\n  title = {T}\n}\n")
    assert book["ISBN"] == "978-2-07-036822-8"


# -- what people's files hold ---------------------------------------------------------------------

def test_jabref_file_imports_with_warnings_for_what_was_skipped(tmp_path: Path) -> None:
    """A keyless entry, an empty entry, a biber annotation field, an undefined macro (its line, not
    line 1), a broken entry (skipped, the next ones read), a duplicate key (at its own line)."""
    path = tmp_path / "jabref.bib"
    path.write_bytes((FIXTURES / "jabref-cp1252.bib").read_bytes())
    parsed = read_bibtex(path)
    keys = [o["data"].get("citationKey") for o in parsed.items]
    # the keyless entry gets the key Better BibTeX would make
    assert keys == ["EvaluationReseauxSante2019", "empty", "annotated", "macro", "after", "dup"]
    keyless = parsed.items[0]["data"]
    assert keyless["title"] == "Évaluation des réseaux de santé"  # the windows-1252 header was honoured
    assert parsed.items[2]["data"]["extra"] == "tex.author+an: 1=corresponding"
    assert parsed.items[3]["data"]["publicationTitle"] == "unknownjournal"
    messages = [w.split(": ", 1)[1] for w in parsed.warnings]
    assert messages == [
        "line 18: the macro 'unknownjournal' in '@article{macro,' is not defined (no @string); its name "
        "'unknownjournal' was kept as the value.",
        "line 22: the entry '@article{broken,' is not valid BibTeX: expected ',' or '}' after the field 'title' "
        "(unbalanced braces or a missing comma?) (line 24); it was skipped.",
        "line 35: the citation key 'dup' is used twice (first at line 31); this second entry was skipped.",
    ]
    with pytest.raises(InputFileError, match=r"jabref\.bib: line 18: the macro 'unknownjournal'.*--strict"):
        read_bibtex(path, strict=True)


def test_broken_entry_is_skipped_and_the_rest_imported(tmp_path: Path) -> None:
    parsed = read_bibtex(FIXTURES / "broken.bib")
    assert [o["data"]["citationKey"] for o in parsed.items] == ["ok2020", "after2022"]
    assert len(parsed.warnings) == 1 and "broken.bib: line 6: the entry '@article{broken2021,'" in parsed.warnings[0]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_utf16_and_byte_order_marks(tmp_path: Path, encoding: str) -> None:
    path = bib(tmp_path, "@book{k,\n  title = {Santé publique},\n  year = 2020\n}\n", encoding=encoding)
    parsed = read_bibtex(path)
    assert parsed.items[0]["data"]["title"] == "Santé publique"
    if encoding in ("utf-16-le", "utf-16-be"):  # no byte-order mark: recognised, and said
        assert parsed.warnings == [
            f"{path}: read as {encoding.upper()} (it has no byte-order mark); check the imported text."]
    else:
        assert parsed.warnings == []


def test_a_guessed_encoding_is_said(tmp_path: Path) -> None:
    text = "@book{k,\n  title = {Évaluation économique des hôpitaux et des réseaux de santé publique},\n}\n"
    path = bib(tmp_path, text, encoding="cp1252")
    parsed = read_path(path)
    assert parsed.items[0]["data"]["title"].startswith("Évaluation économique")
    assert len(parsed.warnings) == 1 and "(a guess: it is not UTF-8)" in parsed.warnings[0]
    with pytest.raises(InputFileError, match=r"a guess: it is not UTF-8.*--strict"):
        read_path(path, ImportOptions(strict=True))


@pytest.mark.parametrize("name", ["refs.bib", "refs.bibtex", "refs.biblatex", "refs.txt", "refs"])
def test_bibtex_is_recognised_by_its_content(tmp_path: Path, name: str) -> None:
    path = bib(tmp_path, "% a comment\n\n@Article{k,\n  title = {T}\n}\n", name)
    assert detect_format(path, path.read_text(encoding="utf-8")).name == "bibtex"
    assert read_path(path).items[0]["data"]["title"] == "T"


def test_line_numbers_are_linear_time(tmp_path: Path) -> None:
    """The line of each entry comes from one table (the old reader searched the whole text per entry):
    a duplicate key near the end of a large file is named at its own line."""
    body = "".join(f"@misc{{e{i},\n  title = {{T {i}}}\n}}\n" for i in range(20000))
    path = bib(tmp_path, body + "@misc{e5,\n  title = {again}\n}\n")
    start = time.perf_counter()
    parsed = read_bibtex(path)
    assert len(parsed.items) == 20000
    assert parsed.warnings[0].endswith("line 60001: the citation key 'e5' is used twice (first at line 16); "
                                       "this second entry was skipped.")
    assert time.perf_counter() - start < 60  # a guard against quadratic time, not a performance target


def test_cli_import_prints_warnings_and_strict_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ZOTCURATE_STORE": str(tmp_path / "store.sqlite"), "ZOTCURATE_CONFIG": str(tmp_path / "none.toml")}
    path = tmp_path / "broken.biblatex"
    path.write_bytes((FIXTURES / "broken.bib").read_bytes())
    assert main(["import", str(path), "-l", "file:b"], env=env) == ExitCode.OK
    out, err = capsys.readouterr()
    assert "Imported 2 items" in out
    assert f"Warning: {path}: line 6: the entry '@article{{broken2021,'" in err
    assert "1 warning(s) above" in err
    assert main(["import", str(path), "-l", "file:b", "--strict"], env=env) == ExitCode.INPUT
    out, err = capsys.readouterr()
    assert "--strict: nothing was imported" in err
    with Store(tmp_path / "store.sqlite") as store:
        assert store.counts(store.require_library("file:b"))["items"] == 2  # the strict run changed nothing
