"""What a link audit checks: each item's URL, and its DOI through a resolver.

Whether a URL or a DOI can be checked at all is decided by :mod:`zotcurate.fields`, the same
judgment ``check`` and ``render`` use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from zotcurate.fields import DOI_RESOLVER, doi_of, doi_url, read_doi, title_of, url_problem

DEFAULT_DOI_RESOLVER = DOI_RESOLVER


@dataclass(frozen=True)
class Link:
    """One thing to check: an item's URL, or its DOI through the resolver."""

    item_key: str
    kind: str  # url | doi
    url: str  # the address to request (the raw text when invalid)
    title: str | None = None
    invalid: str | None = None  # why it cannot be checked, if so


def links_of_items(items: Iterable[Any], resolver: str = DEFAULT_DOI_RESOLVER) -> list[Link]:
    """The URL and the DOI (field or Extra) of each item, in item order."""
    links: list[Link] = []
    for item in items:
        data = item.data
        title = title_of(data)
        url = str(data.get("url") or "").strip()
        if url:
            problem = url_problem(url)
            links.append(Link(item.key, "url", url, title, f"the address {problem}" if problem else None))
        raw_doi = doi_of(data)
        if raw_doi:
            reading = read_doi(raw_doi)
            if reading.doi is None:
                links.append(Link(item.key, "doi", raw_doi, title, f"'{raw_doi}' {reading.problem}"))
            else:
                links.append(Link(item.key, "doi", doi_url(reading.doi, resolver), title))
    return links


def host_key(url: str) -> str:
    """The politeness key: host name and port (a redirect hop takes a slot of its own host)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"
