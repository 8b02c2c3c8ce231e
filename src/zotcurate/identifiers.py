"""DOIs as people type them: bare, as ``doi:`` URIs, or as resolver addresses."""

from __future__ import annotations

import re

DOI_PREFIX = re.compile(r"^(?:(?:https?://)?(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def split_doi(value: str) -> tuple[str, str]:
    """(bare DOI, prefix that was stripped) — ``https://doi.org/10.1/x`` → ``("10.1/x", "https://doi.org/")``."""
    v = value.strip()
    m = DOI_PREFIX.match(v)
    if m:
        return v[m.end():].strip(), m.group(0)
    return v, ""
