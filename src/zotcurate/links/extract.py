from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from zotcurate.fields import split_doi

DEFAULT_DOI_RESOLVER = "https://doi.org/"
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")


@dataclass(frozen=True)
class Link:
    """One thing to check: an item's URL, or its DOI through the resolver."""

    item_key: str
    kind: str  # url | doi
    url: str  # the address to request (the raw text when invalid)
    title: str | None = None
    invalid: str | None = None  # why it cannot be checked, if so


# -- what to check --------------------------------------------------------------------


def normalize_doi(text: str) -> str | None:
    """The bare DOI ("10.1234/abc") from a DOI, a doi: URI or a resolver URL; None if it is not one."""
    doi = split_doi(text)[0]
    return doi if _DOI.match(doi) else None


def doi_url(doi: str, resolver: str = DEFAULT_DOI_RESOLVER) -> str:
    return resolver + quote(doi, safe="/:;()._-<>[]")


def link_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "not a web address (it should start with http:// or https://)"
    if not parts.hostname:
        return "no host name in the address"
    if re.search(r"\s", url):
        return "the address contains spaces"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "the port is not a number"
    return None


def links_of_items(items: Iterable[Any], resolver: str = DEFAULT_DOI_RESOLVER) -> list[Link]:
    """The URL and the DOI (field or Extra) of each item, in item order."""
    links: list[Link] = []
    for item in items:
        data = item.data
        title = data.get("title") or data.get("caseName") or data.get("nameOfAct")
        url = str(data.get("url") or "").strip()
        if url:
            links.append(Link(item.key, "url", url, title, link_problem(url)))
        raw_doi = data.get("DOI") or _extra_doi(str(data.get("extra") or ""))
        if raw_doi:
            doi = normalize_doi(str(raw_doi))
            if doi is None:
                links.append(Link(item.key, "doi", str(raw_doi).strip(), title, "not a DOI (a DOI looks like 10.1234/abc)"))
            else:
                links.append(Link(item.key, "doi", doi_url(doi, resolver), title))
    return links


def _extra_doi(extra: str) -> str | None:
    for line in extra.splitlines():
        key, _, value = line.partition(":")
        if key.strip().upper() == "DOI" and value.strip():
            return value.strip()
    return None


def host_key(url: str) -> str:
    """The politeness key: host name and port (a redirect hop takes a slot of its own host)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"
