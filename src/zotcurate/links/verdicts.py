from __future__ import annotations

VERDICTS = ("ok", "redirected", "broken", "transient", "blocked", "invalid")
FAILING = ("broken", "transient")
PERMANENT_REDIRECTS = (301, 308)
