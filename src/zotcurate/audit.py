"""The scheduled job: sync, check, links, and a dated report folder.

Made for cron and systemd timers: a lock keeps two runs from overlapping, every step's
outcome goes into ``<output>/<date>/report.md`` and ``report.json``, and the exit code
says what a scheduler should act on (see :func:`AuditResult.exit_code`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from zotcurate.check.engine import check_tag_plan, run_check
from zotcurate.check.findings import CheckReport
from zotcurate.check.profile import Profile, load_profile
from zotcurate.check.report import format_markdown as check_markdown
from zotcurate.config import Settings
from zotcurate.errors import ExitCode, LockedError, ZotcurateError
from zotcurate.links.audit import LinkAudit, LinkOptions, audit_links
from zotcurate.links.changes import link_plan
from zotcurate.links.report import format_markdown as links_markdown
from zotcurate.links.report import report_rows, summary_line
from zotcurate.model import Library, LibraryRef
from zotcurate.output import ProgressReporter, plural
from zotcurate.store import Store
from zotcurate.zotero.sync import SyncResult, sync_library
from zotcurate.zotero.writeback import Plan, format_plan, require_writable, write_back


@dataclass
class AuditOptions:
    output_dir: Path
    profile: Path | None = None
    collections: tuple[str, ...] = ()
    fail_on: str = "error"  # check findings at or above this fail the run (error|warning|never)
    link_options: LinkOptions = field(default_factory=LinkOptions)
    sync: bool = True
    # Write-back (planned always, written only with ``apply``):
    tag_errors: str | None = None  # tag on items with metadata errors
    tag_broken: str | None = None  # tag on items with broken links
    fix_redirects: bool = False
    update_access_date: bool = False
    apply: bool = False

    @property
    def writes_back(self) -> bool:
        return bool(self.tag_errors or self.tag_broken or self.fix_redirects or self.update_access_date)


@dataclass
class WriteBack:
    """What the audit planned to write to Zotero, and what it wrote."""

    planned: int = 0
    plan: str = ""  # the plan as every command prints it (format_plan)
    changes: list[dict[str, Any]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    error: ZotcurateError | None = None
    applied: bool = False


@dataclass
class AuditResult:
    folder: Path
    library: str
    sync: SyncResult | None
    sync_error: ZotcurateError | None
    check: CheckReport
    links: LinkAudit
    fail_on: str
    writeback: WriteBack = field(default_factory=WriteBack)

    @property
    def exit_code(self) -> ExitCode:
        """A failed sync or write-back wins (its own code); then findings (1); else 0."""
        if self.sync_error is not None:
            return self.sync_error.exit_code
        if self.writeback.error is not None:
            return self.writeback.error.exit_code
        if self.links.interrupted:
            return ExitCode.INTERRUPTED
        if self.check.fails(self.fail_on) or self.links.broken:
            return ExitCode.FINDINGS
        return ExitCode.OK

    def summary(self) -> str:
        c = self.check.counts()
        sync = ("sync failed: " + self.sync_error.message) if self.sync_error else (
            self.sync.summary() if self.sync else "no sync (file library)")
        return (f"{self.library}: {sync} Check: {plural(c['error'], 'error')}, {plural(c['warning'], 'warning')} on "
                f"{plural(self.check.checked, 'item')}. Links: {summary_line(self.links)} "
                f"{self.writeback_line()}Report: {self.folder}")

    def writeback_line(self) -> str:
        wb = self.writeback
        if wb.error is not None:
            return f"Write-back failed: {wb.error.message} "
        if wb.applied:
            return f"Write-back: {len(wb.written)} item(s) written to Zotero. "
        if wb.planned:
            return f"Write-back: {wb.planned} change(s) planned, not written (add --apply). "
        return ""


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """An exclusive lock that the OS releases if the process dies (no stale lock files);
    filelock makes it work on Windows as on Unix."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def note_pid(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode("ascii"))

    lock = FileLock(path, timeout=0, on_acquired=note_pid)
    try:
        lock.acquire()
    except Timeout as exc:
        try:
            holder = path.read_text(encoding="ascii", errors="replace").strip() or "another process"
        except OSError:
            holder = "another process"
        raise LockedError(
            f"Another zotcurate audit is running (lock {path} held by PID {holder}); "
            "let it finish — the next scheduled run will catch up."
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _report_folder(base: Path, now: datetime) -> Path:
    day = now.strftime("%Y-%m-%d")
    folder = base / day
    n = 2
    while folder.exists():
        folder = base / f"{day}-{n}"
        n += 1
    return folder


def run_audit(store: Store, settings: Settings, ref: LibraryRef, options: AuditOptions, *,
              progress: ProgressReporter | None = None, now: datetime | None = None) -> AuditResult:
    """Sync (web and local libraries), check, audit links, and write the dated report."""
    progress = progress or ProgressReporter()
    now = now or datetime.now(UTC)
    profile = load_profile(options.profile)  # a broken profile stops the run before any work
    if options.apply and options.writes_back:
        require_writable(settings, ref)  # and so does a library that cannot be written to
    with run_lock(settings.store_path.with_name(settings.store_path.name + ".audit.lock")):
        sync_result: SyncResult | None = None
        sync_error: ZotcurateError | None = None
        if options.sync and ref.kind != "file":
            try:
                sync_result = sync_library(store, settings, ref, progress=progress)
            except ZotcurateError as exc:  # audit what the store holds, and say the sync failed
                sync_error = exc
                progress.notice(f"Sync failed, auditing the stored copy: {exc.message}")
        lib = store.require_library(ref.name)
        check = run_check(store, lib, profile, collections=options.collections, progress=progress)
        link_options = options.link_options
        if options.collections:
            keys = tuple(c.key for c in store.resolve_collections(lib, options.collections))
            link_options = replace(link_options, collections=keys)
        audit = audit_links(store, lib, link_options, progress=progress)
        folder = _report_folder(options.output_dir, now)
        result = AuditResult(folder, lib.name, sync_result, sync_error, check, audit, options.fail_on)
        if options.writes_back and sync_error is None:
            result.writeback = _write_back(store, settings, ref, lib, profile, check, audit, options, progress)
        _write_reports(result, now)
        return result


def _write_back(store: Store, settings: Settings, ref: LibraryRef, lib: Library, profile: Profile,
                check: CheckReport, audit: LinkAudit, options: AuditOptions,
                progress: ProgressReporter) -> WriteBack:
    """Tags for metadata errors, then the link fixes, through the one write-back flow."""
    plans: list[Plan] = []
    if options.tag_errors:
        plans.append(check_tag_plan(store, lib, check, options.tag_errors, profile, collections=options.collections))
    if options.tag_broken or options.fix_redirects or options.update_access_date:
        plans.append(link_plan(store, lib, audit, update_access_date=options.update_access_date,
                               tag_broken=options.tag_broken, fix_redirects=options.fix_redirects))
    changes = [c for plan in plans for c in plan.changes]
    out = WriteBack(planned=len(changes), plan=format_plan(plans),
                    changes=[{"item_key": c.item_key, "add_tags": list(c.add_tags),
                              "remove_tags": list(c.remove_tags), "set_fields": dict(c.set_fields)}
                             for c in changes])
    out.applied = options.apply and bool(changes)
    try:
        # The plan and the summary go to the report (out.plan, writeback_line), not to a terminal.
        done = write_back(store, settings, ref, lib, plans, apply=options.apply, echo=lambda _line: None,
                          progress=progress)
    except ZotcurateError as exc:
        out.error = exc
        return out
    if done is not None:
        out.written = done.updated
        out.failed = done.failed
    return out


def _write_reports(result: AuditResult, now: datetime) -> None:
    tmp = result.folder.with_name(result.folder.name + ".part")
    tmp.mkdir(parents=True, exist_ok=False)
    data: dict[str, Any] = {
        "library": result.library,
        "started_at": now.isoformat(),
        "exit_code": result.exit_code,
        "sync": result.sync.as_dict() if result.sync else None,
        "sync_error": result.sync_error.message if result.sync_error else None,
        "check": {"counts": result.check.counts(), "checked": result.check.checked,
                  "findings": [f.as_dict() for f in result.check.findings],
                  "collections": [s.__dict__ | {"share": s.share} for s in result.check.summary]},
        "links": {"counts": result.links.counts, "checked_at": result.links.finished_at,
                  "links": report_rows(result.links)},
        "writeback": {"planned": result.writeback.planned, "applied": result.writeback.applied,
                      "changes": result.writeback.changes,
                      "written": result.writeback.written, "failed": result.writeback.failed,
                      "error": result.writeback.error.message if result.writeback.error else None},
    }
    (tmp / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (tmp / "report.md").write_text(_markdown(result, now), encoding="utf-8")
    tmp.rename(result.folder)  # the folder appears whole, or not at all


def _markdown(result: AuditResult, now: datetime) -> str:
    lines = [f"# Audit of {result.library} — {now.strftime('%Y-%m-%d %H:%M')} UTC", ""]
    if result.sync_error:
        lines += [(f"**Sync failed:** {result.sync_error.message} The check and the link audit below "
                   "are of the copy stored before."), ""]
    elif result.sync:
        lines += [f"Sync: {result.sync.summary()}", ""]
    lines += _section("Metadata", check_markdown(result.check))
    lines.append("")
    if result.writeback_line():
        lines += ["## Write-back to Zotero", "", result.writeback_line().strip(), ""]
        if result.writeback.planned:
            lines += ["```text", result.writeback.plan, "```", ""]
    lines += _section("Links", links_markdown(result.links))
    return "\n".join(lines) + "\n"


def _section(title: str, report_md: str) -> list[str]:
    """A report's own Markdown under the audit's title: its title replaced, headings one level down."""
    return [f"## {title}", ""] + ["#" + line if line.startswith("#") else line for line in report_md.splitlines()[1:]]
