from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from zotcurate.errors import ConfigError
from zotcurate.links.verdicts import FAILING

# -- audits over the store ------------------------------------------------------------


def parse_age(text: str) -> timedelta:
    """'30d', '12h', '2w', '90m' or a number of days."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m:
        raise ConfigError(f"'{text}' is not a duration: write e.g. 30d, 12h or 2w.")
    n, unit = float(m.group(1)), m.group(2) or "d"
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def iso_utc(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def reported_verdict(history: Sequence[Mapping[str, Any]], confirm_after: int) -> tuple[str, str | None]:
    """The verdict to report from a link's checks (oldest first), and why it differs, if it does.

    A broken link is only reported broken once it failed on ``confirm_after`` checks at
    least a day apart, within its current run of failures; until then it is transient.
    """
    last = history[-1]["verdict"]
    if last != "broken" or confirm_after <= 1:
        return last, None
    count, prev = 0, None
    for check in _failure_streak(history):
        if check["verdict"] != "broken":
            continue
        at = parse_iso(check["checked_at"])
        if prev is None or at - prev >= timedelta(days=1):
            count, prev = count + 1, at
    if count >= confirm_after:
        return "broken", None
    return "transient", f"not confirmed yet: broken on {count} of the {confirm_after} audits a day apart needed"


def _failure_streak(history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    streak: list[Mapping[str, Any]] = []
    for check in reversed(history):
        if check["verdict"] not in FAILING:
            break
        streak.append(check)
    return streak[::-1]


def state_since(history: Sequence[Mapping[str, Any]]) -> str | None:
    """When the current state began: the first failure of the streak, the first success, …"""
    group = _group(history[-1]["verdict"])
    since = None
    for check in reversed(history):
        if _group(check["verdict"]) != group:
            break
        since = check["checked_at"]
    return since


def _group(verdict: str) -> str:
    return {"redirected": "ok", "transient": "failing", "broken": "failing"}.get(verdict, verdict)


def change_since(previous: str | None, now: str, prev_new: str | None, new_url: str | None) -> str | None:
    if previous is None:
        return None  # a first audit: nothing to compare with
    if now == "broken" and previous != "broken":
        return "newly broken"
    if previous in ("broken", "transient") and now in ("ok", "redirected"):
        return "recovered"
    if now == "redirected" and (previous != "redirected" or prev_new != new_url):
        return "moved"
    return None
