"""Write-back after a link audit: the broken-link tag, moved URLs and accessDate, as a plan."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from zotcurate.links.audit import LinkAudit, LinkReport
from zotcurate.links.verdicts import Verdict
from zotcurate.model import Item, Library
from zotcurate.store import Store
from zotcurate.zotero.writeback import Change, Plan, patch_for
from zotcurate.zschema import load_schema


def plan_link_changes(audit: LinkAudit, items: Iterable[Item], *, update_access_date: bool = False,
                      tag_broken: str | None = None, fix_redirects: bool = False) -> list[Change]:
    """What to write to Zotero after an audit, one delta per item.

    ``items`` are the current copies (the store's, or fresh ones after a 412): a URL
    that changed since the audit is left alone. Tags: TAG goes on items with a broken
    link and comes off items whose links are all fine again; an item whose state is
    unknown (transient, blocked) keeps what it has. Other tags are never touched.
    """
    rows: dict[str, list[LinkReport]] = defaultdict(list)
    for r in audit.links:
        rows[r.item_key].append(r)
    schema = load_schema() if update_access_date else None
    changes = []
    for item in items:
        mine = rows.get(item.key)
        if not mine:
            continue
        url_row = next((r for r in mine if r.kind == "url" and r.url == str(item.data.get("url") or "").strip()), None)
        fields: dict[str, Any] = {}
        if fix_redirects and url_row and url_row.verdict is Verdict.REDIRECTED and url_row.new_url:
            fields["url"] = url_row.new_url
        # accessDate says on which day the link was verified: rewriting it more than once a
        # day would bump every item's version on every audit for nothing.
        if (schema is not None and url_row and url_row.verdict.works
                and "accessDate" in schema.fields(item.item_type)
                and str(item.data.get("accessDate") or "")[:10] != url_row.checked_at[:10]):
            fields["accessDate"] = url_row.checked_at
        add: tuple[str, ...] = ()
        remove: tuple[str, ...] = ()
        if tag_broken:
            if any(r.verdict is Verdict.BROKEN for r in mine):
                add = () if tag_broken in item.tags else (tag_broken,)
            elif all(r.verdict.works for r in mine) and tag_broken in item.tags:
                remove = (tag_broken,)
        change = Change(item.key, add_tags=add, remove_tags=remove, set_fields=fields)
        if patch_for(change, item.data, item.version) is not None:
            changes.append(change)
    return sorted(changes, key=lambda c: c.item_key)


def link_plan(store: Store, lib: Library, audit: LinkAudit, *, update_access_date: bool = False,
              tag_broken: str | None = None, fix_redirects: bool = False) -> Plan:
    """The :func:`plan_link_changes` plan on the store's copies, for
    :func:`zotcurate.zotero.writeback.write_back`; after a 412 it is made again on the fresh items."""
    wanted: dict[str, Any] = {"update_access_date": update_access_date, "tag_broken": tag_broken,
                              "fix_redirects": fix_redirects}
    keys = sorted({r.item_key for r in audit.links})

    def again(items: list[Item]) -> list[Change]:
        return plan_link_changes(audit, items, **wanted)

    return Plan(again(list(store.items(lib, keys=keys))) if keys else [], again, keys=keys,
                titles={r.item_key: r.title or "" for r in audit.links}, tags=(tag_broken,) if tag_broken else ())
