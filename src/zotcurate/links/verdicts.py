"""What a link check concludes: the verdicts, and what each one means to history and reports.

A verdict is a :class:`Verdict` member. It is a ``str`` (``Verdict.BROKEN == "broken"``), so
the store, JSON and CSV keep the plain value. Adding a verdict: a member and its traits here
(group, place in reports), the engine rule that gives it (``links/engine.py``), its row in
``docs/links.md`` and a test; nothing outside ``links/`` changes.
"""

from __future__ import annotations

from enum import StrEnum


class Group(StrEnum):
    """Verdicts that mean the same state of a link: "since" runs while the group holds."""

    WORKS = "works"  # the link answers: reusable with --max-age, accessDate may be updated
    FAILING = "failing"  # part of a failure streak (--confirm-after counts these)
    BLOCKED = "blocked"
    INVALID = "invalid"


class Verdict(StrEnum):
    """The verdict of one check. Members are declared in report order (counts, summaries)."""

    OK = "ok"
    REDIRECTED = "redirected"
    BROKEN = "broken"
    TRANSIENT = "transient"
    BLOCKED = "blocked"
    INVALID = "invalid"

    @property
    def group(self) -> Group:
        return _TRAITS[self][0]

    @property
    def attention(self) -> int:
        """Where reports list the links needing attention (lower first)."""
        return _TRAITS[self][1]

    @property
    def works(self) -> bool:
        """The link answered (ok, or moved permanently to a page that answers)."""
        return self.group is Group.WORKS

    @property
    def failing(self) -> bool:
        """A failure that may recover (transient) or is confirmed (broken)."""
        return self.group is Group.FAILING

    @property
    def needs_attention(self) -> bool:
        """Listed in reports by default: everything but a plain ``ok``."""
        return self is not Verdict.OK


# What belongs to each verdict: its group, and its place among the links needing attention.
_TRAITS: dict[Verdict, tuple[Group, int]] = {
    Verdict.OK: (Group.WORKS, 5),
    Verdict.REDIRECTED: (Group.WORKS, 4),
    Verdict.BROKEN: (Group.FAILING, 0),
    Verdict.TRANSIENT: (Group.FAILING, 1),
    Verdict.BLOCKED: (Group.BLOCKED, 2),
    Verdict.INVALID: (Group.INVALID, 3),
}
