"""Run the CSL processor test-suite through zotcurate's engine (or citeproc-py alone).

    .venv/bin/python benchmarks/csl_suite.py SUITE_DIR [--json OUT] [--engine zotcurate|citeproc-py]
                                             [--jobs N] [--timeout S] [--only GLOB] [--failures]

SUITE_DIR is the test-suite checkout (it holds ``processor-tests/humans/*.txt``) or that
``humans`` folder itself. Every fixture counts: exceptions and timeouts are failures, and no
fixture is skipped (citeproc-py's own runner skips BIBSECTION and bibliography-header ones and
ignores six "raw date" fixtures).

Comparison is citeproc-py's own runner's (tests/citeproc-test.py in its repository): the
fixture's RESULT as the suite's processor.py extracts it (stripped), split into lines, against
the rendered lines, with ``&amp;`` read as ``&#38;``; nothing else is normalised. Citation
fixtures give one line per citation; CITATIONS fixtures are processed one citation at a time
and each line is marked ``>>[i]`` when that citation changed with the last one (citeproc-js's
reporting, which the expected results use) and ``..[i]`` otherwise. Bibliography fixtures
print the HTML body that citeproc-js prints.

The last line is ``csl-suite: P/N passed; bibliography B/M``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# processor.py's extraction rule, verbatim: the greedy match takes the last section of that name.
_SECTION = r"(?sm)^(.*>>=[^\n]*%s[^\n]+)(.*)(\n<<=.*%s.*)"
_JSON_SECTIONS = ("INPUT", "CITATION-ITEMS", "CITATIONS", "BIBENTRIES", "BIBSECTION", "ABBREVIATIONS")


@dataclass
class Fixture:
    name: str
    mode: str
    result: str
    csl: str
    input: list[dict[str, Any]]
    citation_items: list[list[dict[str, Any]]] | None = None
    citations: list[Any] | None = None
    bibentries: list[list[Any]] | None = None
    bibsection: dict[str, Any] | None = None

    @property
    def group(self) -> str:
        return self.name.split("_", 1)[0]


def _section(raw: str, tag: str) -> str | None:
    match = re.match(_SECTION % (tag, tag), raw)
    return match.group(2).strip() if match else None


def parse_fixture(path: Path) -> Fixture:
    raw = path.read_bytes().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    values: dict[str, Any] = {}
    for tag in ("MODE", "RESULT", "CSL", *_JSON_SECTIONS):
        text = _section(raw, tag)
        if text is None:
            if tag in ("MODE", "RESULT", "CSL", "INPUT"):
                raise ValueError(f"{path.name} has no {tag} section")
            continue
        values[tag.lower().replace("-", "_")] = json.loads(text) if tag in _JSON_SECTIONS else text
    values.pop("abbreviations", None)
    items = values.pop("input")
    for index, item in enumerate(items):  # as citeproc-py's runner does
        item.setdefault("id", index)
        item.setdefault("type", "book")
    return Fixture(name=path.stem, input=items, **values)


# --- the engines ----------------------------------------------------------------------------

Cite = dict[str, Any]


class ZotcurateEngine:
    """zotcurate.render.citations.CslProcessor, printing the HTML of the test-suite."""

    def __init__(self, fixture: Fixture) -> None:
        from zotcurate.render.citations import CslProcessor

        self.processor = CslProcessor(fixture.csl.encode("utf-8"), fixture.input)

    @staticmethod
    def _citation(cites: list[Cite], note_index: int = 0) -> Any:
        from zotcurate.render.citations import CitationInput, CiteRef

        refs = []
        for cite in cites:
            locator = cite.get("locator")
            position = cite.get("position")
            refs.append(CiteRef(str(cite["id"]), locator=None if locator is None else str(locator),
                                label=cite.get("label"), prefix=cite.get("prefix"), suffix=cite.get("suffix"),
                                position=position if isinstance(position, int) else None,
                                near_note=cite.get("near-note")))
        return CitationInput(refs, note_index)

    def citations(self, citations: list[list[Cite]], notes: list[int] | None = None,
                  track_positions: bool = False, bibliography_order: bool = False) -> list[str]:
        notes = notes or [0] * len(citations)
        built = [self._citation(c, n) for c, n in zip(citations, notes, strict=True)]
        rendered = self.processor.citations(built, track_positions=track_positions,
                                            bibliography_order=bibliography_order)
        return [r.html() for r in rendered]

    def bibliography(self, citations: list[list[Cite]] | None) -> list[str]:
        built = None if citations is None else [self._citation(c) for c in citations]
        return [r.html() for r in self.processor.bibliography(built)]


class CiteprocPyEngine:
    """citeproc-py 0.11 alone, driven as its own runner drives it (html formatter)."""

    def __init__(self, fixture: Fixture) -> None:
        import io

        from citeproc import CitationStylesStyle

        self.fixture = fixture
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.style = CitationStylesStyle(io.BytesIO(fixture.csl.encode("utf-8")))

    def _bibliography(self, citations: list[list[Cite]]) -> tuple[Any, list[Any]]:
        from citeproc import Citation, CitationItem, CitationStylesBibliography, Locator
        from citeproc.source.json import CiteProcJSON

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = CiteProcJSON(json.loads(json.dumps(self.fixture.input)))
        bibliography = CitationStylesBibliography(self.style, source)
        built = []
        for cites in citations:
            items = []
            for cite in cites:
                options = {}
                for key, value in cite.items():
                    if key == "locator":
                        options["locator"] = Locator(cite.get("label", "page"), value)
                    elif key not in ("id", "label"):
                        options[key.replace("-", "_")] = value
                items.append(CitationItem(str(cite["id"]), **options))
            citation = Citation(items)
            bibliography.register(citation)
            built.append(citation)
        if self.style.has_bibliography():
            bibliography.sort()
        return bibliography, built

    def citations(self, citations: list[list[Cite]], notes: list[int] | None = None,
                  track_positions: bool = False, bibliography_order: bool = False) -> list[str]:
        bibliography, built = self._bibliography(citations)
        return [str(bibliography.cite(citation, lambda item: None)) for citation in built]

    def bibliography(self, citations: list[list[Cite]] | None) -> list[str]:
        everything = [[{"id": item["id"]} for item in self.fixture.input]]
        bibliography, _ = self._bibliography(citations if citations is not None else everything)
        return [str(entry) for entry in bibliography.bibliography()]


ENGINES: dict[str, Callable[[Fixture], Any]] = {"zotcurate": ZotcurateEngine, "citeproc-py": CiteprocPyEngine}


# --- the driver -----------------------------------------------------------------------------

def _sequence(fixture: Fixture) -> list[tuple[list[str], dict[str, tuple[list[Cite], int]]]]:
    """For a CITATIONS fixture: after each insertion, the citation ids in document order and
    the citations known so far (cites, note number)."""
    known: dict[str, tuple[list[Cite], int]] = {}
    steps = []
    for entry in fixture.citations or []:
        citation, before, after = entry[0], entry[1], entry[2]
        for cid, note in [*before, *after]:
            if cid in known:
                known[cid] = (known[cid][0], int(note or 0))
        note = int(citation.get("properties", {}).get("noteIndex", 0) or 0)
        known[citation["citationID"]] = (citation["citationItems"], note)
        order = [pair[0] for pair in before] + [citation["citationID"]] + [pair[0] for pair in after]
        steps.append(([cid for cid in order if cid in known], dict(known)))
    return steps


def run_fixture(fixture: Fixture, engine_name: str) -> list[str]:
    """As citeproc-js's test runner drives a processor (citeproc-test-runner's sys.js): every
    input item is registered unless CITATIONS build the document one citation at a time."""
    engine = ENGINES[engine_name](fixture)
    if fixture.mode == "citation":
        if fixture.citations:
            previous: dict[str, str] = {}
            lines: list[str] = []
            for order, known in _sequence(fixture):
                rendered = engine.citations([known[cid][0] for cid in order], [known[cid][1] for cid in order],
                                            track_positions=True)
                changed = {cid for cid, text in zip(order, rendered, strict=True) if previous.get(cid) != text}
                previous = dict(zip(order, rendered, strict=True))
                lines = [f"{'>>' if cid in changed else '..'}[{i}] {text}"
                         for i, (cid, text) in enumerate(zip(order, rendered, strict=True))]
            return lines
        if fixture.citation_items:
            return engine.citations(fixture.citation_items)
        everything = [[{"id": item["id"]} for item in fixture.input]]
        return engine.citations(everything, bibliography_order=True)
    if fixture.mode in ("bibliography", "bibliography-nosort"):
        cited: list[list[Cite]] | None = None
        if fixture.bibentries:
            cited = [[{"id": entry} for entry in fixture.bibentries[-1]]]
        elif fixture.citations:
            cited = [c[0]["citationItems"] for c in fixture.citations]
        entries = engine.bibliography(cited)
        return ["<div class=\"csl-bib-body\">", *(f"  <div class=\"csl-entry\">{e}</div>" for e in entries), "</div>"]
    raise ValueError(f"mode {fixture.mode!r} is not supported")


def _normalise(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(line.split("\n"))
    return [line.replace("&amp;", "&#38;") for line in out]


@dataclass
class Outcome:
    name: str
    mode: str
    passed: bool
    reason: str = ""
    expected: list[str] = field(default_factory=list)
    got: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # type: ignore[no-untyped-def]
    raise _Timeout


def check(path: Path, engine_name: str, timeout: float) -> Outcome:
    start = time.perf_counter()
    try:
        fixture = parse_fixture(path)
    except Exception as exc:
        return Outcome(path.stem, "?", False, f"unreadable fixture: {exc}")
    expected = fixture.result.splitlines()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = _normalise(run_fixture(fixture, engine_name))
    except _Timeout:
        return Outcome(fixture.name, fixture.mode, False, f"timeout after {timeout:g} s", expected)
    except Exception as exc:
        text = " ".join(str(exc).split())[:200]
        return Outcome(fixture.name, fixture.mode, False, f"{type(exc).__name__}: {text}", expected,
                       seconds=time.perf_counter() - start)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    passed = got == expected
    return Outcome(fixture.name, fixture.mode, passed, "" if passed else "different output", expected, got,
                   time.perf_counter() - start)


def _check_many(args: tuple[list[str], str, float]) -> list[Outcome]:
    paths, engine_name, timeout = args
    return [check(Path(p), engine_name, timeout) for p in paths]


def fixture_paths(suite: Path, only: str | None = None) -> list[Path]:
    humans = suite if suite.name == "humans" else suite / "processor-tests" / "humans"
    if not humans.is_dir():
        raise SystemExit(f"No fixtures: {humans} is not a folder; give the test-suite checkout or its humans folder.")
    paths = sorted(humans.glob("*.txt"))
    if only:
        paths = [p for p in paths if fnmatch.fnmatch(p.stem, only)]
    return paths


def run_suite(suite: Path, engine_name: str = "zotcurate", jobs: int = 1, timeout: float = 20.0,
              only: str | None = None) -> list[Outcome]:
    paths = [str(p) for p in fixture_paths(suite, only)]
    if jobs <= 1:
        return _check_many((paths, engine_name, timeout))
    chunks = [paths[i::jobs] for i in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        results = [o for chunk in pool.map(_check_many, [(c, engine_name, timeout) for c in chunks]) for o in chunk]
    return sorted(results, key=lambda o: o.name)


def summary_line(outcomes: list[Outcome]) -> str:
    passed = sum(o.passed for o in outcomes)
    bib = [o for o in outcomes if o.mode.startswith("bibliography")]
    return (f"csl-suite: {passed}/{len(outcomes)} passed; "
            f"bibliography {sum(o.passed for o in bib)}/{len(bib)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="the test-suite checkout or its processor-tests/humans folder")
    parser.add_argument("--json", type=Path, help="write every fixture's outcome here")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="zotcurate")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per fixture (default 20)")
    parser.add_argument("--only", help="run only fixtures whose name matches this glob (e.g. 'sort_*')")
    parser.add_argument("--failures", action="store_true", help="print expected and actual output of failures")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    outcomes = run_suite(args.suite, args.engine, args.jobs, args.timeout, args.only)
    elapsed = time.perf_counter() - start
    groups: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        counter = groups.setdefault(outcome.name.split("_", 1)[0], Counter())
        counter["total"] += 1
        counter["passed"] += outcome.passed
    for name in sorted(groups):
        print(f"  {name:<14} {groups[name]['passed']:>4}/{groups[name]['total']:<4}")
    if args.failures:
        for outcome in outcomes:
            if not outcome.passed:
                print(f"--- {outcome.name}: {outcome.reason}")
                print("  expected: " + "\n            ".join(outcome.expected))
                print("  got:      " + "\n            ".join(outcome.got))
    reasons = Counter(o.reason.split(":")[0] for o in outcomes if not o.passed)
    print(f"engine {args.engine}; {len(outcomes)} fixtures in {elapsed:.1f} s with {args.jobs} job(s); "
          f"failures by kind: {dict(reasons)}")
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], ensure_ascii=False, indent=1),
                             encoding="utf-8")
    print(summary_line(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
