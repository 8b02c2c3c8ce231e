"""Bibliographies against citeproc-js (Zotero's engine), entry by entry, for widely used styles.

The golden files (tests/fixtures/citations_golden) hold what citeproc-js 2.4.63 prints for
259 items (the example library and varied items: many types, 1–25 authors, institutions,
particles, accents, markup and quotes in titles, partial and missing dates) with each style
and locale; tests/make_golden_citations.py wrote them (node and npm citeproc, a development
tool). Each file also lists the entries zotcurate printed identically when it was written:
those must stay identical, and at least 95 % of each style's entries must be (issue 10).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zotcurate.render.citations import CslProcessor

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "citations_golden"
FILES = sorted(p for p in GOLDEN.glob("*.json") if p.name != "items.json")


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return json.loads((GOLDEN / "items.json").read_text(encoding="utf-8"))


def test_the_golden_set_covers_ten_styles_and_the_items():
    styles = {json.loads(p.read_text(encoding="utf-8"))["style"] for p in FILES}
    assert len(styles) >= 10
    assert len(json.loads((GOLDEN / "items.json").read_text(encoding="utf-8"))) >= 250


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bibliography_matches_citeproc_js(path, items):
    record = json.loads(path.read_text(encoding="utf-8"))
    entries = CslProcessor(record["style"], items, record["locale"]).bibliography()
    ours = {entry.item_id: entry.html() for entry in entries}
    expected = record["entries"]
    regressed = [i for i in record["identical"] if ours.get(i) != expected[i]]
    assert not regressed, f"{len(regressed)} entries no longer identical, first {regressed[0]}: " \
                          f"{ours.get(regressed[0])!r} != {expected[regressed[0]]!r}"
    identical = sum(ours.get(i) == html for i, html in expected.items())
    assert identical / len(expected) >= 0.95, f"{identical}/{len(expected)} identical"
    # The same entries, in the same order (sorting, and which items print nothing).
    assert [e.item_id for e in entries] == record["order"]
