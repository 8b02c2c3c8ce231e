"""Link audit reports as text: terminal table, JSON, CSV and Markdown (nothing here prints).

Library code: the ``links`` command and ``zotcurate audit`` both write these.
"""

from __future__ import annotations

from typing import Any

from zotcurate.links.audit import LinkAudit, LinkReport
from zotcurate.links.history import LinkChange
from zotcurate.links.verdicts import Verdict
from zotcurate.output import markdown_table, plural, render_table, to_csv, to_json
from zotcurate.writers.markdown import escape as md_escape

REPORT_COLUMNS = ("item_key", "kind", "url", "verdict", "status", "final_url", "new_url", "checked_at", "since",
                  "change", "detail")


def report_rows(audit: LinkAudit) -> list[dict[str, Any]]:
    """One plain dict per link, the shape of the JSON and CSV reports."""
    rows = []
    for r in audit.links:
        rows.append({"item_key": r.item_key, "title": r.title, "kind": r.kind, "url": r.url, "verdict": r.verdict,
                     "status": r.status, "final_url": r.final_url, "new_url": r.new_url,
                     "checked_at": r.checked_at, "since": r.since, "change": r.change, "previous": r.previous,
                     "detail": r.detail, "checked_now": r.checked, "hops": [list(h) for h in r.hops]})
    return rows


def summary_line(audit: LinkAudit) -> str:
    counts = ", ".join(f"{n} {v}" for v, n in audit.counts.items() if n)
    changes = ", ".join(f"{len(audit.changed(c))} {c}" for c in LinkChange if audit.changed(c))
    text = (f"{plural(len(audit.links), 'link')} in {audit.library}: {counts or 'none'}"
            f" ({audit.checked} checked now, {audit.reused} recent successes reused)")
    if changes:
        text += f"; since the previous audit: {changes}"
    return text + "."


def _sorted(audit: LinkAudit, *, all_links: bool) -> list[LinkReport]:
    rows = [r for r in audit.links if all_links or r.verdict.needs_attention]
    return sorted(rows, key=lambda r: (r.verdict.attention, r.item_key, r.url))


def format_table(audit: LinkAudit, *, all_links: bool = False, width: int | None = None) -> str:
    """The terminal report: links that need attention (all with ``all_links``) and a summary."""
    rows = [{"item": r.item_key, "verdict": r.verdict + (f" ({r.change})" if r.change else ""),
             "status": r.status, "url": r.url, "now at": r.new_url or "", "since": (r.since or "")[:10],
             "detail": r.detail} for r in _sorted(audit, all_links=all_links)]
    text = render_table(rows, ["item", "verdict", "status", "url", "now at", "since", "detail"],
                        width=width or 160) if rows else "Every link answered fine.\n"
    return text + summary_line(audit) + "\n"


def format_json(audit: LinkAudit) -> str:
    return to_json(report_rows(audit))


def format_csv(audit: LinkAudit) -> str:
    return to_csv(report_rows(audit), REPORT_COLUMNS)


def _autolink(url: str) -> str:
    # Inside <…> Markdown escapes do not apply; a pipe still has to be hidden from the table.
    return f"<{url}>".replace("|", "%7C")


def _link_cell(r: LinkReport) -> str:
    if r.verdict is Verdict.INVALID:  # not an address: shown as typed, not as a link
        return "`" + r.url.replace("`", "'").replace("|", "\\|") + "`"
    return _autolink(r.url) + (f" → {_autolink(r.new_url)}" if r.new_url else "")


def format_markdown(audit: LinkAudit) -> str:
    """A report a person can review: what changed, then every link needing attention."""
    lines = [f"# Link audit — {md_escape(audit.library)}", "",
             f"Checked on {audit.finished_at[:10]} ({audit.finished_at}).", "", md_escape(summary_line(audit)), ""]
    lines += markdown_table(["verdict", "links"], audit.counts.items())
    for change in LinkChange:
        rows = audit.changed(change)
        if rows:
            lines += ["", f"## {change.capitalize()} since the previous audit", ""]
            lines += [f"- `{r.item_key}` {md_escape(r.title or '')} — {_autolink(r.url)}"
                      + (f" → {_autolink(r.new_url)}" if change is LinkChange.MOVED and r.new_url else "")
                      + (f" ({md_escape(r.detail)})" if change is LinkChange.NEWLY_BROKEN else "") for r in rows]
    attention = _sorted(audit, all_links=False)
    if attention:
        lines += ["", "## Links needing attention", ""]
        lines += markdown_table(["item", "title", "verdict", "status", "link", "since", "detail"],
                                ([f"`{r.item_key}`", md_escape(r.title or ""), r.verdict, r.status, _link_cell(r),
                                  (r.since or "")[:10], md_escape(r.detail)] for r in attention))
    if audit.interrupted:
        lines += ["", "*The audit was interrupted: the links not listed were not checked.*"]
    return "\n".join(lines) + "\n"


def format_report(audit: LinkAudit, fmt: str, *, all_links: bool = False, width: int | None = None) -> str:
    """The report in ``fmt``: json, csv, md, or the terminal table (anything else)."""
    if fmt == "json":
        return format_json(audit)
    if fmt == "csv":
        return format_csv(audit)
    if fmt == "md":
        return format_markdown(audit)
    return format_table(audit, all_links=all_links, width=width)
