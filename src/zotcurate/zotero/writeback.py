"""Write-back: small deltas to Zotero items, safe against concurrent edits.

A :class:`Change` says what to do to one item (tags to add or remove, fields to set),
never the whole item, so it can be re-applied to a fresher copy. :func:`apply_changes`
sends the changes in batches of 50 with each item's version as its precondition, keeps
the store at the versions Zotero returns, and on a 412 re-fetches those items, re-plans
(or re-applies the delta) on the fresh data and retries once. Every batch is stored as
soon as Zotero accepts it, so an apply cut short is safe to run again: the plan is made
from the store, and what is already done plans to nothing.

:func:`write_back` is the one flow every command uses (``check --tag``, ``links
--tag-broken/--fix-redirects/--update-access-date``, ``audit``): print the :class:`Plan`,
write only when asked, behind one guard (:func:`require_writable`), and one summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from zotcurate.config import Settings
from zotcurate.errors import AuthError, ConflictError, LibraryKindError, NetworkError
from zotcurate.model import Item, Library, LibraryRef
from zotcurate.output import ProgressReporter
from zotcurate.store import Store

BATCH = 50
PRECONDITION_FAILED = 412


@dataclass(frozen=True)
class Change:
    """A delta for one item. Tags are compared exactly; other tags are never touched."""

    item_key: str
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    set_fields: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"+{t}" for t in self.add_tags] + [f"-{t}" for t in self.remove_tags]
        parts += [f"{k}={v!r}" for k, v in self.set_fields.items()]
        return " ".join(parts)


@dataclass
class ApplyResult:
    updated: list[str] = field(default_factory=list)  # written, store at the new version
    unchanged: list[str] = field(default_factory=list)  # nothing left to do on the current data
    retried: list[str] = field(default_factory=list)  # hit a 412, re-synced and retried
    failed: dict[str, str] = field(default_factory=dict)  # refused for another reason than 412
    requests: int = 0

    def summary(self, library: str) -> str:
        return (f"Wrote {len(self.updated)} item(s) to {library}"
                + (f" ({len(self.retried)} after a re-sync)" if self.retried else "")
                + (f"; {len(self.unchanged)} needed nothing" if self.unchanged else "") + ".")

    def merge(self, other: ApplyResult) -> None:
        """Add a later apply's outcome (an item written by both counts once)."""
        self.updated += [k for k in other.updated if k not in self.updated]
        both = dict.fromkeys(self.unchanged + other.unchanged)  # ordered, without repeats
        self.unchanged = [k for k in both if k not in self.updated]
        self.retried += [k for k in other.retried if k not in self.retried]
        self.failed.update(other.failed)
        self.requests += other.requests


@dataclass
class Plan:
    """What one analysis wants written: the changes planned on the store's copies, and
    how to plan them again on other copies (fresh ones after a 412, or the ones an
    earlier plan of the same run left in the store)."""

    changes: list[Change]
    again: Callable[[list[Item]], list[Change]]
    keys: Sequence[str] = ()  # the items the plan looks at
    titles: Mapping[str, str] = field(default_factory=dict)  # item key -> title, for printing
    tags: tuple[str, ...] = ()  # the tags it manages, for the per-tag counts


NOT_WRITTEN = "Nothing was written: add --apply to write these changes to Zotero."


def format_plan(plans: Sequence[Plan]) -> str:
    """The plan as printed by every command: a headline, per-tag counts, one line per item."""
    changes = [c for plan in plans for c in plan.changes]
    if not changes:
        return "Write-back: nothing to change in Zotero."
    lines = [f"Write-back: {len({c.item_key for c in changes})} item(s) to change in Zotero."]
    for plan in plans:
        for tag in plan.tags:
            added = sum(1 for c in plan.changes if tag in c.add_tags)
            removed = sum(1 for c in plan.changes if tag in c.remove_tags)
            lines.append(f"Tag '{tag}': add to {added} item(s), remove from {removed} item(s).")
    for plan in plans:
        lines += [f"  {c.item_key}  {c.describe()}  {plan.titles.get(c.item_key, '')[:70]}".rstrip()
                  for c in plan.changes]
    return "\n".join(lines)


def require_writable(settings: Settings, ref: LibraryRef) -> str:
    """The one guard before writing: a group or user library and an API key (returned).

    Commands call it as soon as ``--apply`` is given, before any long work, and
    :func:`write_back` calls it again before it connects.
    """
    if not ref.is_web:
        why = ("Zotero's local API is read-only" if ref.kind == "local"
               else "it is imported from files and has no Zotero server to write to")
        raise LibraryKindError(
            f"{ref.name} is not a Zotero group or user library ({why}), so --apply has nowhere to write; "
            "write back through a group:ID or user:ID library synced with 'zotcurate sync'."
        )
    return settings.require_api_key()


def write_back(store: Store, settings: Settings, ref: LibraryRef, lib: Library, plans: Sequence[Plan], *,
               apply: bool, echo: Callable[[str], None],
               progress: ProgressReporter | None = None) -> ApplyResult | None:
    """Print the plans with ``echo``; with ``apply``, write them to Zotero in order.

    The first plan is written as printed; each later one is planned again on the copies
    the earlier writes left in the store. Returns what was written (None when nothing
    was to be written or ``apply`` is off); ``echo`` gets the one-line summary too.
    """
    echo(format_plan(plans))
    if not any(plan.changes for plan in plans):
        return None
    if not apply:
        echo(NOT_WRITTEN)
        return None
    require_writable(settings, ref)
    from zotcurate.zotero.client import ZoteroClient

    result = ApplyResult()
    with ZoteroClient(settings, ref, progress=progress) as client:
        for plan in plans:
            replan = bool(result.updated and plan.keys)
            changes = plan.again(list(store.items(lib, keys=list(plan.keys)))) if replan else plan.changes
            if changes:
                result.merge(apply_changes(store, client, lib, changes, progress, replan=plan.again))
    echo(result.summary(lib.name))
    return result


class WriteClient(Protocol):
    """What write-back needs from :class:`zotcurate.zotero.ZoteroClient`."""

    def post_items(self, objects: Sequence[dict[str, Any]]) -> Any: ...

    def items_by_key(self, keys: Sequence[str]) -> list[dict[str, Any]]: ...


def plan_tag_changes(tag: str, *, flagged: Iterable[str], checked: Iterable[Item]) -> list[Change]:
    """Add ``tag`` to flagged items that lack it; remove it from checked items that carry
    it but are no longer flagged. Items outside ``checked`` are left alone."""
    flagged_keys = set(flagged)
    changes = []
    for item in checked:
        has = tag in item.tags
        if item.key in flagged_keys and not has:
            changes.append(Change(item.key, add_tags=(tag,)))
        elif item.key not in flagged_keys and has:
            changes.append(Change(item.key, remove_tags=(tag,)))
    return sorted(changes, key=lambda c: c.item_key)


def patch_for(change: Change, data: Mapping[str, Any], version: int) -> dict[str, Any] | None:
    """The POST object applying ``change`` to ``data``, or None when it changes nothing."""
    tags = [dict(t) for t in data.get("tags", [])]
    names = {t.get("tag") for t in tags}
    new_tags = [t for t in tags if t.get("tag") not in change.remove_tags]
    new_tags += [{"tag": t} for t in change.add_tags if t not in names]
    patch: dict[str, Any] = {}
    if new_tags != tags:
        patch["tags"] = new_tags
    for name, value in change.set_fields.items():
        if data.get(name) != value:
            patch[name] = value
    if not patch:
        return None
    return {"key": change.item_key, "version": version, **patch}


def apply_changes(
    store: Store,
    client: WriteClient,
    lib: Library,
    changes: Sequence[Change],
    progress: ProgressReporter | None = None,
    *,
    replan: Callable[[list[Item]], list[Change]] | None = None,
    refresh: Callable[[list[str]], list[Item]] | None = None,
) -> ApplyResult:
    """Write ``changes`` to Zotero in batches of 50 and keep the store in step.

    On a 412 the items are re-fetched (``refresh``, by default
    :func:`zotcurate.sync.refresh_items`), the changes re-planned on the fresh data
    (``replan``; by default the same delta is re-applied) and sent once more; what still
    conflicts raises :class:`ConflictError` after everything else is written.
    """
    progress = progress or ProgressReporter()
    result = ApplyResult()
    if refresh is None:
        from zotcurate.zotero.sync import refresh_items

        def refresh(keys: list[str]) -> list[Item]:
            return refresh_items(store, client, lib, keys)  # type: ignore[arg-type]

    by_key = {c.item_key: c for c in changes}
    progress.start("Writing to Zotero", len(by_key))
    conflicts = _send(store, client, lib, list(by_key.values()), result, progress)
    if conflicts:
        progress.notice(f"{len(conflicts)} item(s) changed in Zotero since the last sync: re-syncing and retrying.")
        fresh = refresh(conflicts)
        fresh_keys = {i.key for i in fresh}
        result.unchanged += [k for k in conflicts if k not in fresh_keys]  # deleted meanwhile: nothing to do
        retry = replan(fresh) if replan is not None else [by_key[i.key] for i in fresh]
        retry_keys = {c.item_key for c in retry}
        result.unchanged += [i.key for i in fresh if i.key not in retry_keys]
        result.retried += sorted(retry_keys)
        still = _send(store, client, lib, retry, result, progress)
        if still:
            progress.stop()
            shown = ", ".join(still[:10]) + (" …" if len(still) > 10 else "")
            raise ConflictError(
                f"{len(still)} item(s) kept changing in Zotero while being written ({shown}); everything else "
                "was written — wait until colleagues finish editing, then run the same command again."
            )
    progress.stop()
    if result.failed:
        first_key, first = next(iter(result.failed.items()))
        if all(message.startswith("HTTP 403") for message in result.failed.values()):
            raise AuthError(
                f"Zotero refused to write {len(result.failed)} item(s) ({first_key}: {first}); give the API key "
                "write access to this library at https://www.zotero.org/settings/keys, then run the command again."
            )
        raise NetworkError(
            f"Zotero refused {len(result.failed)} item(s) (e.g. {first_key}: {first}); the others were written — "
            "run the same command again, and report it if it persists."
        )
    return result


def _send(store: Store, client: WriteClient, lib: Library, changes: Sequence[Change], result: ApplyResult,
          progress: ProgressReporter) -> list[str]:
    """Send changes against the store's current copies; return the keys that got a 412."""
    conflicts: list[str] = []
    pending: list[dict[str, Any]] = []
    for change in changes:
        item = store.item(lib, change.item_key)
        if item is None:
            result.unchanged.append(change.item_key)
            progress.advance()
            continue
        patch = patch_for(change, item.data, item.version)
        if patch is None:
            result.unchanged.append(change.item_key)
            progress.advance()
            continue
        pending.append(patch)
    for start in range(0, len(pending), BATCH):
        batch = pending[start:start + BATCH]
        outcome = client.post_items(batch)
        result.requests += 1
        saved = list(outcome.successful.values())
        if saved:
            # Store each batch as soon as Zotero has it: a later failure keeps this one.
            store.upsert_items(lib, saved)
        result.updated += list(outcome.successful)
        result.unchanged += list(outcome.unchanged)
        for key, failure in outcome.failed.items():
            if failure.code == PRECONDITION_FAILED:
                conflicts.append(key)
            else:
                result.failed[key] = f"HTTP {failure.code} {failure.message}".strip()
        progress.advance(len(batch))
    return conflicts
