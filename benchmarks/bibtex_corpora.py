"""Measure BibTeX import on public corpora nobody here wrote (issue 11's "done when").

    .venv/bin/python benchmarks/bibtex_corpora.py DIR [DIR …] [--json OUT]

Each DIR is searched for *.bib / *.biblatex / *.bibtex files (e.g. a checkout of Better BibTeX's
test fixtures or JabRef's test resources; nothing is copied into this repository). For every
file it compares zotcurate's reader (lenient, as `zotcurate import` runs) with bibtexparser 1.x
alone and counts:

- files zotcurate refuses that bibtexparser parses;
- entries dropped silently: bibtexparser's entry count (minus @comment/@preamble/@string and
  biblatex @xdata/@set) against zotcurate's items plus the entries its warnings name;
- damage in imported titles and creator names: "ł", "ø", "å" made from \\l, \\o, \\r commands
  that were really \\lambda, \\overline…; a combining mark with no letter before it; a raw
  \\command left in the text.

The last line is `bibtex-corpora: F files, R refused (bibtexparser parses them), S silent drops,
D damaged values`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import bibtexparser
from bibtexparser.bparser import BibTexParser

from zotcurate.errors import ZotcurateError
from zotcurate.formats.bibtex import read_bibtex

SUFFIXES = (".bib", ".biblatex", ".bibtex")
# Commands whose first letter pylatexenc-less prefix matching turned into a letter with a stroke or ring.
_PREFIX_DAMAGE = re.compile(r"[łŁøØåÅ](?:angle|ambda|dots|verline|ho|elax|ine|eft|ight|ig|og|dot|mega|times)")
_RAW_COMMAND = re.compile(r"\\[A-Za-z]{2,}")
_LOOSE_MARK = re.compile(r"(?:^|[\s({\[])[\u0300-\u036f]")
_MATH = re.compile(r"\$[^$]*\$|\\\(.*?\\\)")  # math ($…$, \(…\)) is kept as written (issue 11 allows that)


def bibtexparser_entries(text: str) -> int | None:
    """Entries bibtexparser 1.x finds (None when it fails on the file)."""
    parser = BibTexParser(common_strings=True, ignore_nonstandard_types=False, interpolate_strings=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            db = bibtexparser.loads(text, parser=parser)
    except Exception:  # bibtexparser raises anything from pyparsing
        return None
    return sum(1 for e in db.entries if e.get("ENTRYTYPE", "").lower() not in ("xdata", "set"))


def damage(value: str) -> list[str]:
    found = []
    if _PREFIX_DAMAGE.search(value):
        found.append("prefix-matched command")
    if _RAW_COMMAND.search(_MATH.sub("", value)):
        found.append("raw \\command")
    if _LOOSE_MARK.search(unicodedata.normalize("NFD", value)) and _LOOSE_MARK.search(value):
        found.append("loose combining mark")
    return found


def texts_of(item: dict[str, Any]) -> list[str]:
    data = item.get("data", {})
    out = [str(data[k]) for k in ("title", "shortTitle", "publicationTitle", "bookTitle") if data.get(k)]
    for creator in data.get("creators", []):
        out += [str(creator[k]) for k in ("lastName", "firstName", "name") if creator.get(k)]
    return out


def measure(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    theirs = bibtexparser_entries(text)
    row: dict[str, Any] = {"file": str(path), "bibtexparser": theirs}
    try:
        parsed = read_bibtex(path)
    except ZotcurateError as exc:
        row.update(refused=True, message=exc.message)
        return row
    items = [o for o in parsed.items if o["data"].get("itemType") not in ("note", "attachment")]
    skipped = sum(1 for w in parsed.warnings if "skipped" in w)
    row.update(refused=False, items=len(items), warnings=len(parsed.warnings), skipped=skipped)
    row["silent_drop"] = max(0, (theirs or 0) - len(items) - skipped) if theirs is not None else 0
    row["damage"] = [(t[:80], d) for item in items for t in texts_of(item) for d in damage(t)]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, help="write every file's row here")
    args = ap.parse_args(argv)
    files = sorted(p for d in args.dirs for p in d.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    rows = [measure(p) for p in files]
    refused = [r for r in rows if r["refused"] and r["bibtexparser"]]
    silent = sum(r.get("silent_drop", 0) for r in rows)
    damaged = [(r["file"], d) for r in rows for d in r.get("damage", [])]
    for r in refused:
        print(f"refused: {r['file']}: {r['message']}", file=sys.stderr)
    for r in rows:
        if r.get("silent_drop"):
            print(f"silent drop: {r['file']}: bibtexparser {r['bibtexparser']}, zotcurate {r['items']} "
                  f"+ {r['skipped']} skipped", file=sys.stderr)
    for file, d in damaged[:50]:
        print(f"damage: {file}: {d}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"bibtex-corpora: {len(rows)} files, {len(refused)} refused (bibtexparser parses them), "
          f"{silent} silent drops, {len(damaged)} damaged values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
