"""The CSL processor test-suite through zotcurate's engine: never below the recorded floor.

The fixtures are shared data, outside the repository: ``<repo parent>/shared/data/csl-test-suite``
(README there). Without them the test is skipped, saying where it looked.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO.parent / "shared" / "data" / "csl-test-suite"
RUNNER = REPO / "benchmarks" / "csl_suite.py"

# Raise these as fixtures get fixed (benchmarks/RESULTS.md has the history).
FLOOR = 800
BIBLIOGRAPHY_FLOOR = 187
TOTAL = 845
BIBLIOGRAPHY_TOTAL = 199


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory) -> tuple[str, list[dict]]:
    if not (SUITE / "processor-tests" / "humans").is_dir():
        pytest.skip(f"CSL test-suite fixtures not found at {SUITE} (shared data, outside the repository)")
    out = tmp_path_factory.mktemp("csl") / "suite.json"
    run = subprocess.run([sys.executable, str(RUNNER), str(SUITE), "--json", str(out)],
                         capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.strip().splitlines()[-1], json.loads(out.read_text(encoding="utf-8"))


def test_suite_pass_count_is_at_least_the_floor(suite_run):
    line, outcomes = suite_run
    match = re.fullmatch(r"csl-suite: (\d+)/(\d+) passed; bibliography (\d+)/(\d+)", line)
    assert match, line
    passed, total, bib_passed, bib_total = map(int, match.groups())
    assert (total, bib_total) == (TOTAL, BIBLIOGRAPHY_TOTAL)
    assert passed >= FLOOR, f"{passed}/{total} fixtures pass, below the floor of {FLOOR}"
    assert bib_passed >= BIBLIOGRAPHY_FLOOR, f"bibliography {bib_passed}/{bib_total}, below {BIBLIOGRAPHY_FLOOR}"
    # The summary line agrees with the per-fixture outcomes it was computed from.
    assert sum(o["passed"] for o in outcomes) == passed and len(outcomes) == total


def test_no_fixture_times_out(suite_run):
    _, outcomes = suite_run
    assert [o["name"] for o in outcomes if o["reason"].startswith("timeout")] == []


def test_runner_compares_exactly(tmp_path):
    """A fixture whose RESULT differs by one character fails; the same fixture as written passes."""
    sys.path.insert(0, str(RUNNER.parent))
    try:
        import csl_suite
    finally:
        sys.path.remove(str(RUNNER.parent))
    style = ('<style xmlns="http://purl.org/net/xbiblio/csl" class="in-text" version="1.0"><info><id/><title/>'
             '<updated>2009-08-10T04:49:00+09:00</updated></info><citation><layout delimiter="; ">'
             '<text variable="title" font-style="italic"/></layout></citation></style>')
    body = ('>>===== MODE =====>>\ncitation\n<<===== MODE =====<<\n\n>>===== RESULT =====>>\n{result}\n'
            '<<===== RESULT =====<<\n\n>>===== CSL =====>>\n' + style + '\n<<===== CSL =====<<\n\n'
            '>>===== INPUT =====>>\n[{{"id": "A", "type": "book", "title": "Fish & Chips"}}]\n'
            '<<===== INPUT =====<<\n')
    folder = tmp_path / "humans"
    folder.mkdir()
    (folder / "demo_Good.txt").write_text(body.format(result="<i>Fish &#38; Chips</i>"), encoding="utf-8")
    (folder / "demo_Bad.txt").write_text(body.format(result="<i>Fish &#38; Chips.</i>"), encoding="utf-8")
    outcomes = {o.name: o for o in csl_suite.run_suite(folder)}
    assert outcomes["demo_Good"].passed and not outcomes["demo_Bad"].passed
    assert csl_suite.summary_line(list(outcomes.values())) == "csl-suite: 1/2 passed; bibliography 0/0"
