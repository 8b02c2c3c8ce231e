"""A link's record over audits: the checks the store keeps, and what they say together.

The store keeps one row per check (``Store.link_history``); this module reads them back
with their :class:`Verdict` and answers the questions a report asks of that record: the
verdict to report (``--confirm-after``), since when the link is in its state, and what
changed since the previous audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

from zotcurate.links.verdicts import Verdict
from zotcurate.model import Library
from zotcurate.store import Store, parse_iso_utc

Check = dict[str, Any]  # one stored check: the columns of the store's link_checks, verdict as a Verdict


class LinkChange(StrEnum):
    """What happened to a link since its previous audit (in report order)."""

    NEWLY_BROKEN = "newly broken"
    RECOVERED = "recovered"
    MOVED = "moved"


def read_history(store: Store, lib: Library, item_keys: Sequence[str] | None = None) -> dict[tuple[str, str],
                                                                                              list[Check]]:
    """Every recorded check, grouped by ``(item_key, url)``, oldest first."""
    history = store.link_history(lib, item_keys)
    for checks in history.values():
        for check in checks:
            check["verdict"] = Verdict(check["verdict"])
    return history


def reported_verdict(history: Sequence[Check], confirm_after: int) -> tuple[Verdict, str | None]:
    """The verdict to report from a link's checks (oldest first), and why it differs, if it does.

    A broken link is only reported broken once it failed on ``confirm_after`` checks at
    least a day apart, within its current run of failures; until then it is transient.
    """
    last: Verdict = history[-1]["verdict"]
    if last is not Verdict.BROKEN or confirm_after <= 1:
        return last, None
    count, prev = 0, None
    for check in _failure_streak(history):
        if check["verdict"] is not Verdict.BROKEN:
            continue
        at = parse_iso_utc(check["checked_at"])
        if prev is None or at - prev >= timedelta(days=1):
            count, prev = count + 1, at
    if count >= confirm_after:
        return Verdict.BROKEN, None
    return Verdict.TRANSIENT, (f"not confirmed yet: broken on {count} of the {confirm_after} audits "
                               "a day apart needed")


def _failure_streak(history: Sequence[Check]) -> list[Check]:
    streak: list[Check] = []
    for check in reversed(history):
        if not check["verdict"].failing:
            break
        streak.append(check)
    return streak[::-1]


def state_since(history: Sequence[Check]) -> str | None:
    """When the current state began: the first failure of the streak, the first success, …"""
    group = history[-1]["verdict"].group
    since = None
    for check in reversed(history):
        if check["verdict"].group is not group:
            break
        since = check["checked_at"]
    return since


def change_since(previous: Verdict | None, now: Verdict, prev_new: str | None,
                 new_url: str | None) -> LinkChange | None:
    """What changed between the previous audit's verdict and this one's (None: nothing to say)."""
    if previous is None:
        return None  # a first audit: nothing to compare with
    if now is Verdict.BROKEN and previous is not Verdict.BROKEN:
        return LinkChange.NEWLY_BROKEN
    if previous.failing and now.works:
        return LinkChange.RECOVERED
    if now is Verdict.REDIRECTED and (previous is not Verdict.REDIRECTED or prev_new != new_url):
        return LinkChange.MOVED
    return None
