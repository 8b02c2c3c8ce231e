"""Link audits: check every item's URL and DOI, politely, and remember the answers.

The engine is async (aiohttp, the one HTTP library behind this module). Politeness is
enforced here, not left to the HTTP library: every request takes a slot of its host
(default 2 per host) and a global slot, and redirects are followed by hand so that
each hop takes a slot of *its* host — a DOI resolver sending us to a publisher counts
against the publisher. Waits (Retry-After, backoff) happen with no slot held.

Verdicts: ``ok``, ``redirected`` (permanent, with the new URL), ``broken``,
``transient`` (try again later), ``blocked`` (the site refuses robots: not proof of
death) and ``invalid`` (not a URL or DOI). Every check goes into the store's history,
which drives ``max_age`` (only successes are reused), "broken since", ``confirm_after``
and the changes since the previous audit.
"""

from __future__ import annotations

import asyncio
import html
import re
import socket
import ssl
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from .errors import ConfigError
from .identifiers import split_doi
from .output import ProgressReporter, render_table, to_csv, to_json
from .store import Item, Library, Store
from .writeback import ApplyResult, Change, apply_changes, patch_for
from .zschema import load_schema

VERDICTS = ("ok", "redirected", "broken", "transient", "blocked", "invalid")
FAILING = ("broken", "transient")
PERMANENT_REDIRECTS = (301, 308)
DEFAULT_DOI_RESOLVER = "https://doi.org/"
USER_AGENT = "zotcurate/0.1 (link audit of a Zotero library; +https://github.com/zotcurate/zotcurate)"

# Files: a HEAD answers everything we need and downloads nothing. Web pages are
# fetched with GET from the start, because the soft-404 check needs their text.
_FILE_SUFFIXES = (
    ".pdf", ".doc", ".docx", ".odt", ".xls", ".xlsx", ".ods", ".ppt", ".pptx", ".odp", ".rtf", ".epub",
    ".zip", ".gz", ".tar", ".7z", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".tif", ".tiff",
    ".mp3", ".mp4", ".avi", ".mov", ".webm", ".csv", ".xml", ".json", ".txt",
)
_BODY_LIMIT = 64 * 1024  # enough for <title> and <h1> of any page
_SOFT404 = re.compile(
    r"page\s+(?:not|no\s+longer)\s+(?:found|available)|not\s+found"
    r"|(?:page|document|ressource|contenu|fichier|article|lien)s?\s+(?:introuvables?|non\s+trouv[ée]e?s?)"
    r"|n['’]existe\s+(?:pas|plus)|(?:erreur|error)\s*:?\s*404|404\s*(?:error|erreur|[-–:|])|^\s*404\s*$"
    r"|page\s+(?:inexistante|supprim[ée]e)|does\s*n['’]?o?t\s+exist|no\s+longer\s+exists?|nothing\s+(?:was\s+)?found",
    re.IGNORECASE,
)
_ERROR_PAGE_PATH = re.compile(r"/(?:404|not[-_]?found|page[-_]?not[-_]?found|erreur[-_]?404|error[-_]?404)(?:\.\w+)?/?$",
                              re.IGNORECASE)
_CHALLENGE_BODY = re.compile(
    r"just a moment\.\.\.|cf-chl-|challenge-platform|attention required! \| cloudflare|_incapsula_resource"
    r"|px-captcha|captcha-delivery\.com|verify you are human|are you a robot",
    re.IGNORECASE,
)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")


@dataclass(frozen=True)
class LinkOptions:
    """How an audit runs. Times are in seconds."""

    concurrency: int = 32
    per_host: int = 2
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    retries: int = 2  # extra attempts after a 429, 502, 503, 504 or a dropped connection
    backoff: float = 0.5  # first wait when no Retry-After is given; doubles each time
    max_retry_after: float = 60.0  # a longer Retry-After makes the link transient at once
    max_redirects: int = 10
    max_age: timedelta | None = None  # reuse successes checked more recently than this
    confirm_after: int = 1  # audits at least a day apart before a link is called broken
    doi_resolver: str = DEFAULT_DOI_RESOLVER
    user_agent: str = USER_AGENT
    collections: tuple[str, ...] | None = None  # collection keys, sub-collections included by the caller

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_host < 1:
            raise ConfigError("--concurrency and --per-host must be at least 1.")
        if self.per_host > self.concurrency:
            object.__setattr__(self, "per_host", self.concurrency)
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError("--timeout must be a positive number of seconds.")
        if self.confirm_after < 1:
            raise ConfigError("--confirm-after must be at least 1.")
        if not self.doi_resolver.endswith("/"):
            object.__setattr__(self, "doi_resolver", self.doi_resolver + "/")


@dataclass(frozen=True)
class Link:
    """One thing to check: an item's URL, or its DOI through the resolver."""

    item_key: str
    kind: str  # url | doi
    url: str  # the address to request (the raw text when invalid)
    title: str | None = None
    invalid: str | None = None  # why it cannot be checked, if so


@dataclass
class CheckResult:
    """The outcome of checking one address once (redirects and retries included)."""

    url: str
    verdict: str
    status: int | None = None
    final_url: str | None = None
    new_url: str | None = None  # target of the permanent redirects
    hops: list[tuple[str, int]] = field(default_factory=list)
    elapsed: float = 0.0
    detail: str = ""
    requests: int = 0


@dataclass
class LinkReport:
    """One row of an audit report."""

    item_key: str
    title: str | None
    kind: str
    url: str
    verdict: str
    status: int | None
    final_url: str | None
    new_url: str | None
    checked_at: str
    since: str | None
    detail: str
    raw_verdict: str  # before --confirm-after
    checked: bool  # checked in this run (False: reused from history, --max-age)
    change: str | None = None  # newly broken | recovered | moved | None
    previous: str | None = None  # the verdict of the previous audit
    hops: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LinkAudit:
    library: str
    started_at: str
    finished_at: str
    links: list[LinkReport]
    checked: int = 0  # addresses checked over the network in this run
    reused: int = 0  # links whose recent success was reused (--max-age)
    requests: int = 0
    interrupted: bool = False
    peak_per_host: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.verdict for r in self.links)
        return {v: c.get(v, 0) for v in VERDICTS}

    def changed(self, change: str) -> list[LinkReport]:
        return [r for r in self.links if r.change == change]

    @property
    def broken(self) -> list[LinkReport]:
        return [r for r in self.links if r.verdict == "broken"]


# -- what to check --------------------------------------------------------------------


def normalize_doi(text: str) -> str | None:
    """The bare DOI ("10.1234/abc") from a DOI, a doi: URI or a resolver URL; None if it is not one."""
    doi = split_doi(text)[0]
    return doi if _DOI.match(doi) else None


def doi_url(doi: str, resolver: str = DEFAULT_DOI_RESOLVER) -> str:
    return resolver + quote(doi, safe="/:;()._-<>[]")


def _url_problem(url: str) -> str | None:
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
            links.append(Link(item.key, "url", url, title, _url_problem(url)))
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


# -- the engine -----------------------------------------------------------------------


@dataclass
class _Answer:
    status: int | None
    headers: Mapping[str, str]
    body: str
    url: str
    error: str | None = None  # a network failure, in words
    error_verdict: str | None = None  # what that failure means
    retryable: bool = False
    note: str = ""  # added to the verdict's detail


class _Gate:
    """The slots of one host; counts what is in flight so the limit can be verified."""

    def __init__(self, limit: int) -> None:
        self.sem = asyncio.Semaphore(limit)
        self.in_flight = 0
        self.peak = 0


class LinkChecker:
    """Checks addresses with global and per-host limits. Use inside ``async with``."""

    def __init__(self, options: LinkOptions) -> None:
        self.options = options
        self.global_sem = asyncio.Semaphore(options.concurrency)
        self.gates: dict[str, _Gate] = {}
        self.requests = 0
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LinkChecker:
        connector = aiohttp.TCPConnector(limit=self.options.concurrency, limit_per_host=self.options.per_host,
                                         ttl_dns_cache=600)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.options.connect_timeout,
                                        sock_read=self.options.read_timeout)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=True,
            headers={"User-Agent": self.options.user_agent,
                     "Accept": "text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.8",
                     "Accept-Language": "fr,en;q=0.8"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    @property
    def peak_per_host(self) -> dict[str, int]:
        return {k: g.peak for k, g in self.gates.items()}

    def _gate(self, url: str) -> _Gate:
        key = host_key(url)
        if key not in self.gates:
            self.gates[key] = _Gate(self.options.per_host)
        return self.gates[key]

    async def check(self, url: str, kind: str = "url") -> CheckResult:
        """Check one address: follow redirects hop by hop, retry what may recover, classify."""
        started = time.monotonic()
        result = await self._check(url, kind)
        result.elapsed = round(time.monotonic() - started, 3)
        return result

    async def _check(self, url: str, kind: str) -> CheckResult:
        problem = _url_problem(url)
        if problem:
            return CheckResult(url, "invalid", detail=problem)
        hops: list[tuple[str, int]] = []
        seen: Counter[str] = Counter()
        try:
            current = str(URL(url))
        except ValueError as exc:
            return CheckResult(url, "invalid", detail=f"not a usable address ({exc})")
        requests = 0
        for _ in range(self.options.max_redirects + 1):
            # One return visit is allowed: some sites set a cookie and send you back where you came from.
            if seen[current] >= 2:
                return CheckResult(url, "broken", hops[-1][1] if hops else None, current, hops=hops,
                                   detail=f"redirect loop after {len(hops)} hops", requests=requests)
            seen[current] += 1
            answer, n = await self._fetch(current)
            requests += n
            if answer.error:
                verdict = answer.error_verdict or "transient"
                where = f" (after redirects, at {current})" if hops else ""
                return CheckResult(url, verdict, None, current, hops=hops, detail=answer.error + where,
                                   requests=requests)
            status = answer.status or 0
            location = answer.headers.get("Location")
            if 300 <= status < 400 and status != 304:
                if not location:
                    return CheckResult(url, "broken", status, current, hops=hops,
                                       detail=f"HTTP {status} redirect without a Location", requests=requests)
                try:
                    target = str(URL(current).join(URL(location)))
                except ValueError:
                    return CheckResult(url, "broken", status, current, hops=hops,
                                       detail=f"HTTP {status} to a malformed address: {location[:80]}",
                                       requests=requests)
                hops.append((current, status))
                if _url_problem(target):
                    return CheckResult(url, "broken", status, target, hops=hops,
                                       detail=f"redirects to an unusable address: {target[:80]}", requests=requests)
                current = target
                continue
            result = _classify(url, kind, answer, hops, current)
            result.requests = requests
            return result
        return CheckResult(url, "broken", hops[-1][1] if hops else None, current, hops=hops,
                           detail=f"more than {self.options.max_redirects} redirects", requests=requests)

    async def _fetch(self, url: str) -> tuple[_Answer, int]:
        """One hop: HEAD (files) or GET (pages), GET again when HEAD is refused, retries with waits."""
        method = "HEAD" if _looks_like_file(url) else "GET"
        attempt = 0
        requests = 0
        while True:
            answer = await self._request(url, method)
            requests += 1
            if method == "HEAD" and _head_unreliable(answer):
                # HEAD refused, failed or hid an HTML page: ask with GET, as a browser would.
                method = "GET"
                answer = await self._request(url, method)
                requests += 1
            wait = self._retry_wait(answer, attempt)
            if wait is None:
                return answer, requests
            if wait > self.options.max_retry_after:
                answer.note = f"; the server asked to wait {wait:.0f} s, more than the {self.options.max_retry_after:.0f} s allowed"
                return answer, requests
            attempt += 1
            if method == "HEAD":
                method = "GET"  # a HEAD that was rate limited: the retry asks as a browser would
            await asyncio.sleep(wait)  # no slot is held here

    def _retry_wait(self, answer: _Answer, attempt: int) -> float | None:
        if attempt >= self.options.retries:
            return None
        if answer.error:
            return self.options.backoff * 2**attempt if answer.retryable else None
        status = answer.status or 0
        # 500 and 501 are the application's own errors: asking again rarely helps, unlike overload.
        if status not in (429, 502, 503, 504):
            return None
        if _challenge(status, answer.headers, answer.body):
            return None
        retry_after = _retry_after(answer.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        return self.options.backoff * 2**attempt

    async def _request(self, url: str, method: str) -> _Answer:
        assert self.session is not None, "use LinkChecker inside 'async with'"
        gate = self._gate(url)
        async with gate.sem:  # the host's slot first, so waiting for a busy host holds no global slot
            async with self.global_sem:
                gate.in_flight += 1
                gate.peak = max(gate.peak, gate.in_flight)
                self.requests += 1
                try:
                    return await self._send(url, method)
                finally:
                    gate.in_flight -= 1

    async def _send(self, url: str, method: str) -> _Answer:
        assert self.session is not None
        try:
            async with self.session.request(method, URL(url), allow_redirects=False) as resp:
                body = ""
                ctype = resp.headers.get("Content-Type", "").lower()
                if method == "GET" and (not ctype or "html" in ctype or resp.status >= 400):
                    body = await _read_some(resp)
                return _Answer(resp.status, resp.headers, body, url)
        except aiohttp.InvalidURL as exc:
            return _Answer(None, {}, "", url, error=f"not a usable address ({exc})", error_verdict="invalid")
        except aiohttp.ClientConnectorCertificateError as exc:
            return _Answer(None, {}, "", url, error=f"TLS certificate refused ({exc.certificate_error})",
                           error_verdict="broken")
        except aiohttp.ClientConnectorError as exc:
            return _connect_error(url, exc)
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError):
            return _Answer(None, {}, "", url, error="timed out", error_verdict="transient")
        except ssl.SSLError as exc:
            return _Answer(None, {}, "", url, error=f"TLS error ({exc.reason})", error_verdict="broken")
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
            return _Answer(None, {}, "", url, error=f"connection dropped ({type(exc).__name__})",
                           error_verdict="transient", retryable=True)
        except aiohttp.ClientResponseError as exc:
            return _Answer(None, {}, "", url, error=f"malformed answer ({exc.message})", error_verdict="broken")
        except aiohttp.ClientError as exc:
            return _Answer(None, {}, "", url, error=f"request failed ({type(exc).__name__})",
                           error_verdict="transient")


async def _read_some(resp: aiohttp.ClientResponse) -> str:
    chunks: list[bytes] = []
    size = 0
    while size < _BODY_LIMIT:
        chunk = await resp.content.read(_BODY_LIMIT - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    try:
        return data.decode(resp.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", errors="replace")


def _connect_error(url: str, exc: aiohttp.ClientConnectorError) -> _Answer:
    os_error = exc.os_error
    if isinstance(os_error, socket.gaierror) or isinstance(exc, getattr(aiohttp, "ClientConnectorDNSError", ())):
        return _Answer(None, {}, "", url, error="the host name does not exist (DNS)", error_verdict="broken")
    if isinstance(os_error, ConnectionRefusedError):
        return _Answer(None, {}, "", url, error="connection refused", error_verdict="broken")
    if isinstance(os_error, TimeoutError):
        return _Answer(None, {}, "", url, error="connection timed out", error_verdict="transient")
    return _Answer(None, {}, "", url, error=f"cannot connect ({os_error.strerror or os_error})",
                   error_verdict="transient", retryable=True)


def _looks_like_file(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(_FILE_SUFFIXES)


def _head_unreliable(answer: _Answer) -> bool:
    if answer.error:
        return answer.retryable  # some servers drop HEAD requests; a timeout would only cost another timeout
    status = answer.status or 0
    if status in (429, 503) and not _challenge(status, answer.headers, ""):
        return False  # rate limited: wait first, then ask with GET
    if status >= 400:
        return True
    # A "file" answered with an HTML page: its text is needed to spot a soft 404.
    return 200 <= status < 300 and "html" in answer.headers.get("Content-Type", "").lower()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _challenge(status: int, headers: Mapping[str, str], body: str) -> str | None:
    """The name of the bot wall that answered, if the answer is one."""
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return "a Cloudflare bot challenge"
    if headers.get("x-amzn-waf-action", "").lower() in ("challenge", "captcha"):
        return "an AWS WAF bot challenge"
    if status in (401, 403, 405, 429, 503):
        if "x-datadome" in headers or "captcha-delivery.com" in body:
            return "a DataDome bot challenge"
        if body and _CHALLENGE_BODY.search(body):
            server = headers.get("Server", "").lower()
            return f"a bot challenge ({server or 'unknown server'})"
    return None


def _page_says_not_found(body: str) -> str | None:
    texts = []
    m = re.search(r"<title[^>]*>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    if m:
        texts.append(m.group(1))
    texts += re.findall(r"<h1[^>]*>(.*?)</h1>", body, re.IGNORECASE | re.DOTALL)[:2]
    for raw in texts:
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())
        if text and _SOFT404.search(text):
            return text[:80]
    return None


def _classify(url: str, kind: str, answer: _Answer, hops: list[tuple[str, int]], final: str) -> CheckResult:
    status = answer.status or 0
    extra = answer.note
    res = CheckResult(url, "ok", status, final, hops=hops)
    doi_missing = kind == "doi" and not hops and status in (404, 410)
    if 200 <= status < 300 or status == 304:
        said = _page_says_not_found(answer.body) if answer.body else None
        if said:
            res.verdict, res.detail = "broken", f"soft 404: the page says “{said}”"
        elif hops and _ERROR_PAGE_PATH.search(urlsplit(final).path):
            res.verdict, res.detail = "broken", "redirects to an error page"
        elif hops and kind == "url" and urlsplit(final).path in ("", "/") and _deep(urlsplit(url).path):
            res.verdict, res.detail = "broken", "redirects to the site's home page (the page is gone)"
        else:
            new_url = _permanent_target(hops, final)
            if kind == "url" and new_url and new_url != url:
                res.verdict, res.new_url = "redirected", new_url
                res.detail = f"moved permanently to {new_url}"
            elif hops:
                res.detail = f"{len(hops)} redirect(s)" + (" through the DOI resolver" if kind == "doi" else "")
        return res
    wall = _challenge(status, answer.headers, answer.body)
    if wall:
        res.verdict, res.detail = "blocked", f"HTTP {status}: {wall}; check it in a browser"
    elif status in (401, 403, 407, 451):
        res.verdict, res.detail = "blocked", f"HTTP {status}: the site refuses automated checks; check it in a browser"
    elif doi_missing:
        res.verdict, res.detail = "broken", f"HTTP {status}: the DOI resolver does not know this DOI"
    elif status in (404, 410):
        res.verdict = "broken"
        res.detail = f"HTTP {status}" + (" after redirects (the new address is dead)" if hops else "")
    elif status == 429:
        res.verdict, res.detail = "transient", "HTTP 429: rate limited, still after retries" + extra
    elif 500 <= status < 600:
        res.verdict, res.detail = "transient", f"HTTP {status}: server error, still after retries" + extra
    else:
        res.verdict, res.detail = "broken", f"HTTP {status}"
    return res


def _deep(path: str) -> bool:
    """A path that names a document, not a section: sent to the home page, it is gone."""
    parts = [p for p in path.split("/") if p]
    return len(parts) >= 2 or bool(parts and "." in parts[-1] and not parts[-1].startswith("index."))


def _permanent_target(hops: list[tuple[str, int]], final: str) -> str | None:
    """Where the leading permanent redirects point (a later temporary hop is not followed)."""
    target = None
    for i, (_, status) in enumerate(hops):
        if status not in PERMANENT_REDIRECTS:
            break
        target = hops[i + 1][0] if i + 1 < len(hops) else final
    return target


async def check_urls(urls: Sequence[tuple[str, str]], options: LinkOptions, *, on_result: Any = None,
                     cost: Mapping[str, float] | None = None) -> tuple[dict[str, CheckResult], LinkChecker]:
    """Check ``(url, kind)`` pairs (each address once); ``on_result(result)`` as each finishes.

    ``cost``: the seconds each address took last time, to start the slow ones first.
    """
    unique: dict[str, str] = {}
    for url, kind in urls:
        unique.setdefault(url, kind)
    results: dict[str, CheckResult] = {}
    async with LinkChecker(options) as checker:

        async def one(url: str, kind: str) -> None:
            res = await checker.check(url, kind)
            results[url] = res
            if on_result is not None:
                on_result(res)

        tasks = [asyncio.create_task(one(u, unique[u])) for u in _busiest_hosts_first(list(unique), cost)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return results, checker


def _busiest_hosts_first(urls: list[str], cost: Mapping[str, float] | None = None) -> list[str]:
    """Interleave hosts, the busiest first, and on each host the slowest links first.

    The busiest host sets the wall time, so it starts at once; within a host, longest
    first keeps a slow page from finishing alone at the end. ``cost``: seconds each link
    took last time (from the history), when known.
    """
    cost = cost or {}
    known = [c for c in cost.values() if c > 0]
    guess = sum(known) / len(known) if known else 1.0
    by_host: dict[str, list[str]] = defaultdict(list)
    for u in urls:
        by_host[host_key(u) if not _url_problem(u) else ""].append(u)
    for queue in by_host.values():
        queue.sort(key=lambda u: -cost.get(u, guess))
    queues = sorted(by_host.values(), key=lambda q: -sum(cost.get(u, guess) for u in q))
    out: list[str] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out


# -- audits over the store ------------------------------------------------------------


def parse_age(text: str) -> timedelta:
    """'30d', '12h', '2w', '90m' or a number of days."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m:
        raise ConfigError(f"'{text}' is not a duration: write e.g. 30d, 12h or 2w.")
    n, unit = float(m.group(1)), m.group(2) or "d"
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def reported_verdict(history: Sequence[Mapping[str, Any]], confirm_after: int) -> tuple[str, str | None]:
    """The verdict to report from a link's checks (oldest first), and why it differs, if it does.

    A broken link is only reported broken once it failed on ``confirm_after`` checks at
    least a day apart, within its current run of failures; until then it is transient.
    """
    last = history[-1]["verdict"]
    if last != "broken" or confirm_after <= 1:
        return last, None
    count, prev = 0, None
    for check in _failure_streak(history):
        if check["verdict"] != "broken":
            continue
        at = _parse_iso(check["checked_at"])
        if prev is None or at - prev >= timedelta(days=1):
            count, prev = count + 1, at
    if count >= confirm_after:
        return "broken", None
    return "transient", f"not confirmed yet: broken on {count} of the {confirm_after} audits a day apart needed"


def _failure_streak(history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    streak: list[Mapping[str, Any]] = []
    for check in reversed(history):
        if check["verdict"] not in FAILING:
            break
        streak.append(check)
    return streak[::-1]


def _since(history: Sequence[Mapping[str, Any]]) -> str | None:
    """When the current state began: the first failure of the streak, the first success, …"""
    group = _group(history[-1]["verdict"])
    since = None
    for check in reversed(history):
        if _group(check["verdict"]) != group:
            break
        since = check["checked_at"]
    return since


def _group(verdict: str) -> str:
    return {"redirected": "ok", "transient": "failing", "broken": "failing"}.get(verdict, verdict)


def _change(previous: str | None, now: str, prev_new: str | None, new_url: str | None) -> str | None:
    if previous is None:
        return None  # a first audit: nothing to compare with
    if now == "broken" and previous != "broken":
        return "newly broken"
    if previous in ("broken", "transient") and now in ("ok", "redirected"):
        return "recovered"
    if now == "redirected" and (previous != "redirected" or prev_new != new_url):
        return "moved"
    return None


def _report(link: Link, history: list[dict[str, Any]], confirm_after: int, checked: bool) -> LinkReport:
    last = history[-1]
    verdict, why = reported_verdict(history, confirm_after)
    previous = prev_new = None
    if checked and len(history) > 1:
        previous, _ = reported_verdict(history[:-1], confirm_after)
        prev_new = history[-2].get("new_url")
    detail = last.get("detail") or ""
    if why:
        detail = f"{why} ({detail})" if detail else why
    return LinkReport(
        item_key=link.item_key, title=link.title, kind=link.kind, url=link.url, verdict=verdict,
        status=last.get("status"), final_url=last.get("final_url"), new_url=last.get("new_url"),
        checked_at=last["checked_at"], since=_since(history), detail=detail, raw_verdict=last["verdict"],
        checked=checked, change=_change(previous, verdict, prev_new, last.get("new_url")) if checked else None,
        previous=previous, hops=[tuple(h) for h in last.get("hops") or []],  # type: ignore[misc]
    )


def _reusable(history: list[dict[str, Any]] | None, max_age: timedelta | None, now: datetime) -> bool:
    if not history or max_age is None:
        return False
    last = history[-1]
    # Only successes are reused: an error may be gone tomorrow (lychee#1694).
    return last["verdict"] in ("ok", "redirected") and now - _parse_iso(last["checked_at"]) < max_age


def audit_links(store: Store, lib: Library, options: LinkOptions | None = None, *,
                progress: ProgressReporter | None = None, now: datetime | None = None,
                item_keys: Sequence[str] | None = None) -> LinkAudit:
    """Check the links of a library's items (or of ``options.collections``) and record each check.

    Results are saved as they come, so an interrupted audit (Ctrl-C) keeps what it
    checked; the returned audit then has ``interrupted`` set.
    """
    options = options or LinkOptions()
    progress = progress or ProgressReporter()
    clock_start = now or datetime.now(UTC)
    items = list(store.items(lib, collections=list(options.collections) if options.collections is not None else None,
                             keys=item_keys))
    links = links_of_items(items, options.doi_resolver)
    history = store.link_history(lib, [i.key for i in items])
    to_check = [lk for lk in links if not lk.invalid and not _reusable(history.get((lk.item_key, lk.url)),
                                                                       options.max_age, clock_start)]
    by_url: dict[str, list[Link]] = defaultdict(list)
    for lk in to_check:
        by_url[lk.url].append(lk)
    reused = sum(1 for lk in links if not lk.invalid) - len(to_check)

    counts: Counter[str] = Counter()
    pending: list[dict[str, Any]] = []
    checked_now: set[tuple[str, str]] = set()

    def record(link: Link, res: CheckResult, at: str) -> None:
        check = {"item_key": link.item_key, "kind": link.kind, "url": link.url, "checked_at": at,
                 "verdict": res.verdict, "status": res.status, "final_url": res.final_url, "new_url": res.new_url,
                 "hops": [list(h) for h in res.hops], "elapsed": res.elapsed, "detail": res.detail}
        pending.append(check)
        history.setdefault((link.item_key, link.url), []).append(check)
        checked_now.add((link.item_key, link.url))
        counts[res.verdict] += 1

    last_flush = [time.monotonic()]

    def flush() -> None:
        if pending:
            store.add_link_checks(lib, pending)
            pending.clear()
        last_flush[0] = time.monotonic()

    def stamp() -> str:
        # A fixed clock (tests) stamps every check alike; otherwise the real time of the check.
        return _iso(now) if now else _iso(datetime.now(UTC))

    invalid = [lk for lk in links if lk.invalid]
    for lk in invalid:
        record(lk, CheckResult(lk.url, "invalid", detail=lk.invalid or ""), stamp())
    flush()

    def on_result(res: CheckResult) -> None:
        at = stamp()
        for lk in by_url[res.url]:
            record(lk, res, at)
            progress.advance()
        progress.describe(_live_counts(counts))
        # Saved as they come (in small batches), so an interrupted run keeps its work.
        if len(pending) >= 50 or time.monotonic() - last_flush[0] > 0.5:
            flush()

    progress.start("Checking links", len(to_check))
    interrupted = False
    requests = 0
    peaks: dict[str, int] = {}
    try:
        cost = {lk.url: float(h[-1].get("elapsed") or 0) for lk in to_check
                if (h := history.get((lk.item_key, lk.url)))}
        _, checker = asyncio.run(_checking([(u, lks[0].kind) for u, lks in by_url.items()], options,
                                           on_result, flush, cost))
        requests, peaks = checker.requests, checker.peak_per_host
    except KeyboardInterrupt:
        interrupted = True
    finally:
        flush()
        progress.stop()
    if interrupted:
        progress.notice(f"Interrupted: {len(checked_now)} link checks were saved; run again to check the rest.")

    reports = []
    for lk in links:
        hist = history.get((lk.item_key, lk.url))
        if hist:
            reports.append(_report(lk, hist, options.confirm_after, (lk.item_key, lk.url) in checked_now))
    return LinkAudit(library=lib.name, started_at=_iso(clock_start), finished_at=stamp(), links=reports,
                     checked=len({lk.url for lk in to_check if (lk.item_key, lk.url) in checked_now}),
                     reused=reused, requests=requests, interrupted=interrupted, peak_per_host=peaks)


async def _checking(urls: list[tuple[str, str]], options: LinkOptions, on_result: Any, flush: Any,
                    cost: Mapping[str, float]) -> tuple[dict[str, CheckResult], LinkChecker]:
    """check_urls, saving finished checks every half second even while slow links keep going."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.5)
            flush()

    ticker = asyncio.create_task(tick())
    try:
        return await check_urls(urls, options, on_result=on_result, cost=cost)
    finally:
        ticker.cancel()


def _live_counts(counts: Mapping[str, int]) -> str:
    return "Links: " + " · ".join(f"{v} {counts[v]}" for v in VERDICTS if counts.get(v))


# -- reports --------------------------------------------------------------------------

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
    changes = ", ".join(f"{len(audit.changed(c))} {c}" for c in ("newly broken", "recovered", "moved")
                        if audit.changed(c))
    text = (f"{len(audit.links)} links in {audit.library}: {counts or 'none'}"
            f" ({audit.checked} checked now, {audit.reused} recent successes reused)")
    if changes:
        text += f"; since the previous audit: {changes}"
    return text + "."


def _sorted(audit: LinkAudit, *, all_links: bool) -> list[LinkReport]:
    order = {v: i for i, v in enumerate(("broken", "transient", "blocked", "invalid", "redirected", "ok"))}
    rows = [r for r in audit.links if all_links or r.verdict != "ok"]
    return sorted(rows, key=lambda r: (order[r.verdict], r.item_key, r.url))


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


def format_markdown(audit: LinkAudit) -> str:
    """A report a person can review: what changed, then every link needing attention."""
    def cell(value: Any) -> str:
        return str(value or "").replace("|", "\\|").replace("\n", " ")

    lines = [f"# Link audit — {audit.library}", "", f"Checked on {audit.finished_at[:10]} ({audit.finished_at}).",
             "", summary_line(audit), "", "| verdict | links |", "|---|---|"]
    lines += [f"| {v} | {n} |" for v, n in audit.counts.items()]
    for change in ("newly broken", "recovered", "moved"):
        rows = audit.changed(change)
        if rows:
            lines += ["", f"## {change.capitalize()} since the previous audit", ""]
            lines += [f"- `{r.item_key}` {cell(r.title)} — <{r.url}>"
                      + (f" → <{r.new_url}>" if change == "moved" and r.new_url else "")
                      + (f" ({cell(r.detail)})" if change == "newly broken" else "") for r in rows]
    attention = _sorted(audit, all_links=False)
    if attention:
        lines += ["", "## Links needing attention", "", "| item | title | verdict | status | link | since | detail |",
                  "|---|---|---|---|---|---|---|"]
        for r in attention:
            link = f"`{r.url}`" if r.verdict == "invalid" else f"<{r.url}>" + (f" → <{r.new_url}>" if r.new_url else "")
            lines.append(f"| `{r.item_key}` | {cell(r.title)} | {r.verdict} | {cell(r.status)} | {cell(link)} "
                         f"| {cell((r.since or '')[:10])} | {cell(r.detail)} |")
    if audit.interrupted:
        lines += ["", "*The audit was interrupted: the links not listed were not checked.*"]
    return "\n".join(lines) + "\n"


def format_report(audit: LinkAudit, fmt: str, *, all_links: bool = False) -> str:
    if fmt == "json":
        return format_json(audit)
    if fmt == "csv":
        return format_csv(audit)
    if fmt == "md":
        return format_markdown(audit)
    return format_table(audit, all_links=all_links)


# -- write-back ---------------------------------------------------------------------------


def plan_link_changes(audit: LinkAudit, items: Iterable[Item], *, update_access_date: bool = False,
                      tag_broken: str | None = None, fix_redirects: bool = False) -> list[Change]:
    """What to write to Zotero after an audit, one delta per item (applied by zotcurate.writeback).

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
        if fix_redirects and url_row and url_row.verdict == "redirected" and url_row.new_url:
            fields["url"] = url_row.new_url
        # accessDate says on which day the link was verified: rewriting it more than once a
        # day would bump every item's version on every audit for nothing.
        if (schema is not None and url_row and url_row.verdict in ("ok", "redirected")
                and "accessDate" in schema.fields(item.item_type)
                and str(item.data.get("accessDate") or "")[:10] != url_row.checked_at[:10]):
            fields["accessDate"] = url_row.checked_at
        add: tuple[str, ...] = ()
        remove: tuple[str, ...] = ()
        if tag_broken:
            if any(r.verdict == "broken" for r in mine):
                add = () if tag_broken in item.tags else (tag_broken,)
            elif all(r.verdict in ("ok", "redirected") for r in mine) and tag_broken in item.tags:
                remove = (tag_broken,)
        change = Change(item.key, add_tags=add, remove_tags=remove, set_fields=fields)
        if patch_for(change, item.data, item.version) is not None:
            changes.append(change)
    return sorted(changes, key=lambda c: c.item_key)


def format_plan(changes: Sequence[Change], audit: LinkAudit) -> str:
    """The write-back plan, one line per item."""
    titles = {r.item_key: r.title or "" for r in audit.links}
    if not changes:
        return "Write-back: nothing to change in Zotero.\n"
    lines = [f"Write-back: {len(changes)} item(s) to change in Zotero."]
    lines += [f"  {c.item_key}  {c.describe()}  {titles.get(c.item_key, '')[:60]}" for c in changes]
    return "\n".join(lines) + "\n"


def apply_link_changes(store: Store, client: Any, lib: Library, audit: LinkAudit, changes: Sequence[Change], *,
                       update_access_date: bool = False, tag_broken: str | None = None, fix_redirects: bool = False,
                       progress: ProgressReporter | None = None) -> ApplyResult:
    """Write a plan with zotcurate.writeback; after a 412 the plan is made again on the fresh items."""

    def replan(fresh: list[Item]) -> list[Change]:
        return plan_link_changes(audit, fresh, update_access_date=update_access_date, tag_broken=tag_broken,
                                 fix_redirects=fix_redirects)

    return apply_changes(store, client, lib, changes, progress, replan=replan)


__all__ = [
    "VERDICTS", "Link", "LinkOptions", "CheckResult", "LinkReport", "LinkAudit", "LinkChecker", "audit_links",
    "check_urls", "links_of_items", "normalize_doi", "doi_url", "parse_age", "reported_verdict", "format_report",
    "format_table", "format_json", "format_csv", "format_markdown", "report_rows", "summary_line", "host_key",
    "plan_link_changes", "format_plan", "apply_link_changes",
]
