"""An audit of a library's links: what to check, checking it, and every check kept in the store.

:func:`audit_links` picks the items' links (``links/extract.py``), reuses recent successes
(``--max-age``), has the engine check the rest, saves each check as it comes (so Ctrl-C
keeps what was done) and reads the history back into one :class:`LinkReport` per link.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from zotcurate.errors import ConfigError
from zotcurate.links.engine import CheckerOptions, CheckResult, LinkChecker, check_urls
from zotcurate.links.extract import DEFAULT_DOI_RESOLVER, Link, links_of_items
from zotcurate.links.history import Check, LinkChange, change_since, read_history, reported_verdict, state_since
from zotcurate.links.verdicts import Verdict
from zotcurate.model import Library
from zotcurate.output import ProgressReporter
from zotcurate.store import Store, iso_utc, parse_iso_utc


@dataclass(frozen=True)
class LinkOptions(CheckerOptions):
    """How an audit runs: the engine's options, and what the audit itself decides."""

    max_age: timedelta | None = None  # reuse successes checked more recently than this
    confirm_after: int = 1  # audits at least a day apart before a link is called broken
    doi_resolver: str = DEFAULT_DOI_RESOLVER
    collections: tuple[str, ...] | None = None  # collection keys, sub-collections included by the caller

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.confirm_after < 1:
            raise ConfigError("--confirm-after must be at least 1.")
        if not self.doi_resolver.endswith("/"):
            object.__setattr__(self, "doi_resolver", self.doi_resolver + "/")


def parse_age(text: str) -> timedelta:
    """A ``--max-age``: '30d', '12h', '2w', '90m' or a number of days."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m:
        raise ConfigError(f"'{text}' is not a duration: write e.g. 30d, 12h or 2w.")
    n, unit = float(m.group(1)), m.group(2) or "d"
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


@dataclass
class LinkReport:
    """One row of an audit report."""

    item_key: str
    title: str | None
    kind: str
    url: str
    verdict: Verdict
    status: int | None
    final_url: str | None
    new_url: str | None
    checked_at: str
    since: str | None
    detail: str
    raw_verdict: Verdict  # before --confirm-after
    checked: bool  # checked in this run (False: reused from history, --max-age)
    change: LinkChange | None = None
    previous: Verdict | None = None  # the verdict of the previous audit
    hops: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LinkAudit:
    """One audit: a report row per link, and how the run went."""

    library: str
    started_at: str
    finished_at: str
    links: list[LinkReport]
    checked: int = 0  # addresses checked over the network in this run
    reused: int = 0  # links whose recent success was reused (--max-age)
    requests: int = 0
    interrupted: bool = False
    peak_per_host: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[Verdict, int]:
        """Links per verdict, every verdict present (in :class:`Verdict` order)."""
        c = Counter(r.verdict for r in self.links)
        return {v: c.get(v, 0) for v in Verdict}

    def changed(self, change: LinkChange | str) -> list[LinkReport]:
        return [r for r in self.links if r.change == change]

    @property
    def broken(self) -> list[LinkReport]:
        return [r for r in self.links if r.verdict is Verdict.BROKEN]


def _report(link: Link, history: list[Check], confirm_after: int, checked: bool) -> LinkReport:
    last = history[-1]
    verdict, why = reported_verdict(history, confirm_after)
    previous = prev_new = None
    if checked and len(history) > 1:
        previous, _ = reported_verdict(history[:-1], confirm_after)
        prev_new = history[-2].get("new_url")
    detail = last.get("detail") or ""
    if why:
        detail = f"{why} ({detail})" if detail else why
    return LinkReport(
        item_key=link.item_key, title=link.title, kind=link.kind, url=link.url, verdict=verdict,
        status=last.get("status"), final_url=last.get("final_url"), new_url=last.get("new_url"),
        checked_at=last["checked_at"], since=state_since(history), detail=detail, raw_verdict=last["verdict"],
        checked=checked, change=change_since(previous, verdict, prev_new, last.get("new_url")) if checked else None,
        previous=previous, hops=[tuple(h) for h in last.get("hops") or []],
    )


def _reusable(history: list[Check] | None, max_age: timedelta | None, now: datetime) -> bool:
    if not history or max_age is None:
        return False
    last = history[-1]
    # Only successes are reused: an error may be gone tomorrow (lychee#1694).
    return last["verdict"].works and now - parse_iso_utc(last["checked_at"]) < max_age


def audit_links(store: Store, lib: Library, options: LinkOptions | None = None, *,
                progress: ProgressReporter | None = None, now: datetime | None = None,
                item_keys: Sequence[str] | None = None) -> LinkAudit:
    """Check the links of a library's items (or of ``options.collections``) and record each check.

    Results are saved as they come, so an interrupted audit (Ctrl-C) keeps what it
    checked; the returned audit then has ``interrupted`` set.
    """
    options = options or LinkOptions()
    progress = progress or ProgressReporter()
    clock_start = now or datetime.now(UTC)
    items = list(store.items(lib, collections=list(options.collections) if options.collections is not None else None,
                             keys=item_keys))
    links = links_of_items(items, options.doi_resolver)
    history = read_history(store, lib, [i.key for i in items])
    to_check = [lk for lk in links if not lk.invalid and not _reusable(history.get((lk.item_key, lk.url)),
                                                                       options.max_age, clock_start)]
    by_url: dict[str, list[Link]] = defaultdict(list)
    for lk in to_check:
        by_url[lk.url].append(lk)
    reused = sum(1 for lk in links if not lk.invalid) - len(to_check)

    counts: Counter[Verdict] = Counter()
    pending: list[Check] = []
    checked_now: set[tuple[str, str]] = set()

    def record(link: Link, res: CheckResult, at: str) -> None:
        check = {"item_key": link.item_key, "kind": link.kind, "url": link.url, "checked_at": at,
                 "verdict": res.verdict, "status": res.status, "final_url": res.final_url, "new_url": res.new_url,
                 "hops": [list(h) for h in res.hops], "elapsed": res.elapsed, "detail": res.detail}
        pending.append(check)
        history.setdefault((link.item_key, link.url), []).append(check)
        checked_now.add((link.item_key, link.url))
        counts[res.verdict] += 1

    last_flush = [time.monotonic()]

    def flush() -> None:
        if pending:
            store.add_link_checks(lib, pending)
            pending.clear()
        last_flush[0] = time.monotonic()

    def stamp() -> str:
        # A fixed clock (tests) stamps every check alike; otherwise the real time of the check.
        return iso_utc(now or datetime.now(UTC))

    invalid = [lk for lk in links if lk.invalid]
    for lk in invalid:
        record(lk, CheckResult(lk.url, Verdict.INVALID, detail=lk.invalid or ""), stamp())
    flush()

    def on_result(res: CheckResult) -> None:
        at = stamp()
        for lk in by_url[res.url]:
            record(lk, res, at)
            progress.advance()
        progress.describe(_live_counts(counts))
        # Saved as they come (in small batches), so an interrupted run keeps its work.
        if len(pending) >= 50 or time.monotonic() - last_flush[0] > 0.5:
            flush()

    progress.start("Checking links", len(to_check))
    interrupted = False
    requests = 0
    peaks: dict[str, int] = {}
    try:
        cost = {lk.url: float(h[-1].get("elapsed") or 0) for lk in to_check
                if (h := history.get((lk.item_key, lk.url)))}
        _, checker = asyncio.run(_checking([(u, lks[0].kind) for u, lks in by_url.items()], options,
                                           on_result, flush, cost))
        requests, peaks = checker.requests, checker.peak_per_host
        if checker.out_of_time:
            progress.notice(f"The link audit reached its time limit ({options.max_duration:.0f} s, setting "
                            f"links_max_duration): {checker.unchecked} links were not checked this time; "
                            "run it again to check them.")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        flush()
        progress.stop()
    if interrupted:
        progress.notice(f"Interrupted: {len(checked_now)} link checks were saved; run again to check the rest.")

    reports = []
    for lk in links:
        hist = history.get((lk.item_key, lk.url))
        if hist:
            reports.append(_report(lk, hist, options.confirm_after, (lk.item_key, lk.url) in checked_now))
    return LinkAudit(library=lib.name, started_at=iso_utc(clock_start), finished_at=stamp(), links=reports,
                     checked=len({lk.url for lk in to_check if (lk.item_key, lk.url) in checked_now}),
                     reused=reused, requests=requests, interrupted=interrupted, peak_per_host=peaks)


async def _checking(urls: list[tuple[str, str]], options: LinkOptions, on_result: Any, flush: Any,
                    cost: Mapping[str, float]) -> tuple[dict[str, CheckResult], LinkChecker]:
    """check_urls, saving finished checks every half second even while slow links keep going."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.5)
            flush()

    ticker = asyncio.create_task(tick())
    try:
        return await check_urls(urls, options, on_result=on_result, cost=cost)
    finally:
        ticker.cancel()


def _live_counts(counts: Mapping[Verdict, int]) -> str:
    return "Links: " + " · ".join(f"{v} {counts[v]}" for v in Verdict if counts.get(v))
