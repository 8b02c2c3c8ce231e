"""check on what a BibTeX import writes: no false positives on people named Chu, Oms or Drees, nor on
the ``<span class="nocase">`` that import puts in journal and book titles (Zotero's rich text)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from zotcurate.check.engine import run_check
from zotcurate.check.profile import load_profile
from zotcurate.formats.base import ImportOptions
from zotcurate.formats.files import import_files
from zotcurate.model import LibraryRef
from zotcurate.store import Store

BIB = r"""
@article{chu2019,
  author = {Chu, Steven and CHU, Dung and Oms, Joan and Drees, Martin and Who, Jane and Ars, Pere},
  title = {Cooling {DNA}},
  journal = {Journal of {Chemical Physics}},
  year = 2019,
}
@incollection{proc2020,
  author = {Smith, Ann},
  title = {A chapter},
  booktitle = {Proceedings of the {IEEE} Conference},
  series = {{LNCS}},
  year = 2020,
}
@techreport{chu2021,
  author = {CHU de Bordeaux and {ARS Occitanie} and {DREES}},
  title = {Rapport},
  institution = {CHU},
  year = 2021,
}
"""


def findings(tmp_path: Path) -> dict[str, list[tuple[str, str]]]:
    path = tmp_path / "refs.bib"
    path.write_text(BIB, encoding="utf-8")
    with Store(tmp_path / "store.sqlite") as store:
        import_files(store, LibraryRef.parse("file:refs"), [path], options=ImportOptions(strict=True))
        lib = store.require_library("file:refs")
        report = run_check(store, lib, load_profile(None), today=date(2026, 6, 1))
    out: dict[str, list[tuple[str, str]]] = {}
    for f in report.findings:
        out.setdefault(f.rule, []).append((f.item_key, f.message))
    return out


def test_people_named_like_acronyms_are_not_institutions(tmp_path: Path) -> None:
    split = findings(tmp_path).get("creator-institution-split", [])
    messages = " ".join(m for _, m in split)
    for person in ("Chu, Steven", "CHU, Dung", "Oms, Joan", "Drees, Martin", "Who, Jane", "Ars, Pere"):
        assert person not in messages
    # an institution split into two fields is still found: "CHU de Bordeaux" read as first "CHU", last "de Bordeaux"
    assert any("'de Bordeaux, CHU'" in m for m in messages.split("Creator")), split


def test_nocase_spans_are_zotero_rich_text_not_html(tmp_path: Path) -> None:
    html = findings(tmp_path).get("html-in-field", [])
    assert html == []
