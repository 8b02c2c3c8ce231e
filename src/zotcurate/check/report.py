"""Check reports as text: terminal table, JSON, CSV and Markdown.

Library code (the CLI and ``audit`` both print these); nothing here prints.
"""

from __future__ import annotations

from zotcurate.check.findings import CheckReport
from zotcurate.output import markdown_table, plural, render_table, shorten_text, to_csv, to_json
from zotcurate.writers.markdown import escape as md_escape

CSV_COLUMNS = ["item_key", "rule", "severity", "field", "message", "item_type", "title", "link"]


def format_report(report: CheckReport, fmt: str, *, width: int = 160) -> str:
    """The report in ``fmt``: json, csv, md, or the terminal table (anything else)."""
    if fmt == "json":
        return to_json([f.as_dict() for f in report.findings])
    if fmt == "csv":
        rows = []
        for f in report.findings:
            info = report.items.get(f.item_key)
            rows.append({**f.as_dict(), "item_type": info.item_type if info else "",
                         "title": info.title if info else "", "link": info.link if info else ""})
        return to_csv(rows, CSV_COLUMNS)
    if fmt == "md":
        return format_markdown(report)
    return _table(report, width)


def _headline(report: CheckReport) -> str:
    counts = report.counts()
    return (f"{report.library}: {plural(report.checked, 'item')} checked — {plural(counts['error'], 'error')}, "
            f"{plural(counts['warning'], 'warning')}, {plural(counts['info'], 'info')}.")


def _summary_rows(report: CheckReport) -> list[dict[str, object]]:
    return [{"collection": s.path, "items": s.items, "without error": s.complete,
             "complete": _share(s.items, s.share), "errors": s.errors, "warnings": s.warnings}
            for s in report.summary]


def _share(items: int, share: float) -> str:
    return f"{100 * share:.0f} %" if items else "—"  # a collection holding only sub-collections


SUMMARY_COLUMNS = ["collection", "items", "without error", "complete", "errors", "warnings"]


def _table(report: CheckReport, width: int) -> str:
    rows: list[dict[str, object]] = []
    for key, findings in report.by_item().items():
        info = report.items[key]
        if rows:
            rows.append({})  # a blank line between items
        for i, f in enumerate(findings):
            title = shorten_text(info.title, 60) if info.title else "(no title)"  # at a word end, with "…"
            item_cell = f"{key} · {info.item_type}\n{title}\n{info.link}" if i == 0 else ""
            rows.append({"item": item_cell, "severity": f.severity, "rule": f.rule, "field": f.field,
                         "message": f.message})
    out = []
    if rows:
        out.append(render_table(rows, ["item", "severity", "rule", "field", "message"], width=width))
    out.append(render_table(_summary_rows(report), SUMMARY_COLUMNS, title="Completeness by collection", width=width))
    out.append(_headline(report) + "\n")
    return "".join(out)


def format_markdown(report: CheckReport) -> str:
    """A review sheet: completeness per collection, then one section per item with its findings."""
    lines = [f"# Metadata check: {md_escape(report.library)}", "", md_escape(_headline(report)), "",
             "## Completeness by collection", ""]
    numbers = ["Items", "Without error", "Complete", "Errors", "Warnings"]
    lines += markdown_table(["Collection", *numbers],
                            ([md_escape(s.path), s.items, s.complete, _share(s.items, s.share), s.errors, s.warnings]
                             for s in report.summary), right=numbers)
    lines += ["", "## Findings", ""]
    if not report.findings:
        lines.append("No findings.")
    for key, findings in report.by_item().items():
        info = report.items[key]
        lines += [f"### [{key}]({info.link}) — {md_escape(info.title) or '(no title)'} ({info.item_type})", ""]
        for f in findings:
            where = f" ({f.field})" if f.field else ""
            lines.append(f"- **{f.severity}** `{f.rule}`{md_escape(where)}: {md_escape(f.message)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
