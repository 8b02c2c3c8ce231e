"""The HTTP engine: checks addresses politely and says what each answer means.

Global and per-host slots, redirects followed hop by hop (each hop takes a slot on its own
host), retries with Retry-After, HEAD or GET, soft 404s and bot walls, and a
:class:`~zotcurate.links.verdicts.Verdict` for each address. It knows nothing of items or
the store (that is ``links/audit.py``). The only module that imports aiohttp.

Against hostile sites: every request has a total deadline (a page dripping its headers
or body byte by byte ends), a run has a time limit, and no connection is ever opened to a
link-local or cloud-metadata address (nor, when ``allow_private`` is off, to a private or
loopback one): the address is judged as the socket is about to connect, after DNS, on
every redirect hop.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import re
import socket
import ssl
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from zotcurate.config import DEFAULT_LINKS_MAX_DURATION
from zotcurate.errors import ConfigError
from zotcurate.fields import url_problem
from zotcurate.links.extract import host_key
from zotcurate.links.verdicts import Verdict

PERMANENT_REDIRECTS = (301, 308)
USER_AGENT = "zotcurate/0.1 (link audit of a Zotero library; +https://github.com/zotcurate/zotcurate)"

# Files: a HEAD answers everything we need and downloads nothing. Web pages are
# fetched with GET from the start, because the soft-404 check needs their text.
_FILE_SUFFIXES = (
    ".pdf", ".doc", ".docx", ".odt", ".xls", ".xlsx", ".ods", ".ppt", ".pptx", ".odp", ".rtf", ".epub",
    ".zip", ".gz", ".tar", ".7z", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".tif", ".tiff",
    ".mp3", ".mp4", ".avi", ".mov", ".webm", ".csv", ".xml", ".json", ".txt",
)
_BODY_LIMIT = 64 * 1024  # enough for <title> and <h1> of any page
_HEADING_LIMIT = 2000  # characters of a title or heading looked at: a longer one is no heading
_SOFT404 = re.compile(
    r"page\s+(?:not|no\s+longer)\s+(?:found|available)|not\s+found"
    r"|(?:page|document|ressource|contenu|fichier|article|lien)s?\s+(?:introuvables?|non\s+trouv[ée]e?s?)"
    r"|n['’]existe\s+(?:pas|plus)|(?:erreur|error)\s*:?\s*404|404\s*(?:error|erreur|[-–:|])|^\s*404\s*$"
    r"|page\s+(?:inexistante|supprim[ée]e)|does\s*n['’]?o?t\s+exist|no\s+longer\s+exists?|nothing\s+(?:was\s+)?found",
    re.IGNORECASE,
)
_ERROR_PAGE_PATH = re.compile(
    r"/(?:404|not[-_]?found|page[-_]?not[-_]?found|erreur[-_]?404|error[-_]?404)(?:\.\w+)?/?$", re.IGNORECASE)
_CHALLENGE_BODY = re.compile(
    r"just a moment\.\.\.|cf-chl-|challenge-platform|attention required! \| cloudflare|_incapsula_resource"
    r"|px-captcha|captcha-delivery\.com|verify you are human|are you a robot",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CheckerOptions:
    """How the engine asks. Times are in seconds (``links.audit.LinkOptions`` adds the audit's own)."""

    concurrency: int = 32
    per_host: int = 2
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    retries: int = 2  # extra attempts after a 429, 502, 503, 504 or a dropped connection
    backoff: float = 0.5  # first wait when no Retry-After is given; doubles each time
    max_retry_after: float = 60.0  # a longer Retry-After makes the link transient at once
    max_redirects: int = 10
    user_agent: str = USER_AGENT
    deadline: float | None = None  # one request, start to end, however it trickles; None: 3 × read_timeout
    max_duration: float | None = DEFAULT_LINKS_MAX_DURATION  # the whole run; None: no limit
    allow_private: bool = True  # private networks and loopback (link-local and metadata: never)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_host < 1:
            raise ConfigError("--concurrency and --per-host must be at least 1.")
        if self.per_host > self.concurrency:
            object.__setattr__(self, "per_host", self.concurrency)
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError("--timeout must be a positive number of seconds.")
        if self.deadline is None:
            object.__setattr__(self, "deadline", 3 * self.read_timeout)
        if (self.deadline or 0) <= 0 or (self.max_duration is not None and self.max_duration <= 0):
            raise ConfigError("The request deadline and the audit's time limit must be positive numbers of seconds.")


@dataclass
class CheckResult:
    """The outcome of checking one address once (redirects and retries included)."""

    url: str
    verdict: Verdict
    status: int | None = None
    final_url: str | None = None
    new_url: str | None = None  # target of the permanent redirects
    hops: list[tuple[str, int]] = field(default_factory=list)
    elapsed: float = 0.0
    detail: str = ""
    requests: int = 0


# -- the engine -----------------------------------------------------------------------


@dataclass
class _Answer:
    status: int | None
    headers: Mapping[str, str]
    body: str
    url: str
    error: str | None = None  # a network failure, in words
    error_verdict: Verdict | None = None  # what that failure means
    retryable: bool = False
    note: str = ""  # added to the verdict's detail

    @classmethod
    def failed(cls, url: str, error: str, verdict: Verdict, *, retryable: bool = False) -> _Answer:
        """No answer: a network failure, in words, and what it means."""
        return cls(None, {}, "", url, error=error, error_verdict=verdict, retryable=retryable)


class _Gate:
    """The slots of one host; counts what is in flight so the limit can be verified."""

    def __init__(self, limit: int) -> None:
        self.sem = asyncio.Semaphore(limit)
        self.in_flight = 0
        self.peak = 0


class BlockedAddress(OSError):
    """Raised instead of connecting to an address the audit must not reach.

    Its text is the same for every address, so that a host with several refused addresses
    still surfaces as this error (aiohappyeyeballs raises one of identical errors).
    """

    def __init__(self, address: str, reason: str) -> None:
        super().__init__("zotcurate does not connect to this address")
        self.address = address
        self.reason = reason


# Cloud metadata services outside the link-local range (AWS over IPv6, Alibaba, Azure's
# wire server, Oracle's legacy address); 169.254.169.254 itself is link-local.
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_refusal(address: str, allow_private: bool = True) -> str | None:
    """Why the audit may not connect to this IP address (None: it may).

    Link-local, metadata, unspecified, multicast and reserved addresses are refused always;
    loopback and private networks unless ``allow_private``. An IPv4 address written as
    IPv6 (mapped, 6to4, NAT64) is judged as the IPv4 address it is.
    """
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _METADATA:
        return f"{ip} is a cloud metadata address; zotcurate never connects there"
    if ip.is_link_local:
        return f"{ip} is a link-local address (cloud metadata services answer there); zotcurate never connects there"
    if ip.is_loopback:
        return None if allow_private else (f"{ip} is this machine's own address; set links_allow_private "
                                           "(or --allow-private-addresses) to check such links")
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved or ip == ipaddress.IPv4Address("255.255.255.255"):
        return f"{ip} is not the address of a web site (unspecified, multicast or reserved)"
    if not ip.is_global and not allow_private:
        return (f"{ip} is on a private network; set links_allow_private (or --allow-private-addresses) "
                "to check such links")
    return None


def _guarded_socket_factory(allow_private: bool) -> Any:
    """aiohttp's socket factory: called with each resolved address just before connecting."""

    def factory(addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        reason = address_refusal(str(sockaddr[0]), allow_private)
        if reason:
            raise BlockedAddress(str(sockaddr[0]), reason)
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


class LinkChecker:
    """Checks addresses with global and per-host limits. Use inside ``async with``.

    ``resolver``: an aiohttp resolver instead of the system's (tests resolve names to
    chosen addresses without DNS).
    """

    def __init__(self, options: CheckerOptions, *, resolver: Any = None) -> None:
        self.options = options
        self.global_sem = asyncio.Semaphore(options.concurrency)
        self.gates: dict[str, _Gate] = {}
        self.requests = 0
        self.session: aiohttp.ClientSession | None = None
        self.resolver = resolver
        self.out_of_time = False  # the run's time limit (max_duration) stopped it
        self.unchecked = 0  # addresses not checked because of it

    async def __aenter__(self) -> LinkChecker:
        connector = aiohttp.TCPConnector(limit=self.options.concurrency, limit_per_host=self.options.per_host,
                                         ttl_dns_cache=600, resolver=self.resolver,
                                         socket_factory=_guarded_socket_factory(self.options.allow_private))
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
        problem = url_problem(url)
        if problem:
            return CheckResult(url, Verdict.INVALID, detail=f"the address {problem}")
        hops: list[tuple[str, int]] = []
        seen: Counter[str] = Counter()
        try:
            current = str(URL(url))
        except ValueError as exc:
            return CheckResult(url, Verdict.INVALID, detail=f"not a usable address ({exc})")
        requests = 0
        for _ in range(self.options.max_redirects + 1):
            # One return visit is allowed: some sites set a cookie and send you back where you came from.
            if seen[current] >= 2:
                return CheckResult(url, Verdict.BROKEN, hops[-1][1] if hops else None, current, hops=hops,
                                   detail=f"redirect loop after {len(hops)} hops", requests=requests)
            seen[current] += 1
            answer, n = await self._fetch(current)
            requests += n
            if answer.error:
                verdict = answer.error_verdict or Verdict.TRANSIENT
                where = f" (after redirects, at {current})" if hops else ""
                return CheckResult(url, verdict, None, current, hops=hops, detail=answer.error + where,
                                   requests=requests)
            status = answer.status or 0
            location = answer.headers.get("Location")
            if 300 <= status < 400 and status != 304:
                if not location:
                    return CheckResult(url, Verdict.BROKEN, status, current, hops=hops,
                                       detail=f"HTTP {status} redirect without a Location", requests=requests)
                try:
                    target = str(URL(current).join(URL(location)))
                except ValueError:
                    return CheckResult(url, Verdict.BROKEN, status, current, hops=hops,
                                       detail=f"HTTP {status} to a malformed address: {location[:80]}",
                                       requests=requests)
                hops.append((current, status))
                if url_problem(target):
                    return CheckResult(url, Verdict.BROKEN, status, target, hops=hops,
                                       detail=f"redirects to an unusable address: {target[:80]}", requests=requests)
                current = target
                continue
            result = _classify(url, kind, answer, hops, current)
            result.requests = requests
            return result
        return CheckResult(url, Verdict.BROKEN, hops[-1][1] if hops else None, current, hops=hops,
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
                asked = "for ever" if wait == float("inf") else f"{wait:.0f} s"
                answer.note = (f"; the server asked to wait {asked}, more than the "
                               f"{self.options.max_retry_after:.0f} s allowed")
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
        # The host's slot first, so waiting for a busy host holds no global slot.
        async with gate.sem, self.global_sem:
            gate.in_flight += 1
            gate.peak = max(gate.peak, gate.in_flight)
            self.requests += 1
            try:
                return await self._send(url, method)
            finally:
                gate.in_flight -= 1

    async def _send(self, url: str, method: str) -> _Answer:
        deadline = self.options.deadline or 3 * self.options.read_timeout
        try:
            async with asyncio.timeout(deadline):
                return await self._exchange(url, method)
        except TimeoutError:
            # The read timeout restarts with every byte: only this ends a page that drips.
            return _Answer.failed(url, f"did not finish answering within {deadline:.0f} s", Verdict.TRANSIENT)

    async def _exchange(self, url: str, method: str) -> _Answer:
        assert self.session is not None
        try:
            async with self.session.request(method, URL(url), allow_redirects=False) as resp:
                body = ""
                ctype = resp.headers.get("Content-Type", "").lower()
                if method == "GET" and (not ctype or "html" in ctype or resp.status >= 400):
                    body = await _read_some(resp)
                return _Answer(resp.status, resp.headers, body, url)
        except aiohttp.InvalidURL as exc:
            return _Answer.failed(url, f"not a usable address ({exc})", Verdict.INVALID)
        except aiohttp.ClientConnectorCertificateError as exc:
            return _Answer.failed(url, f"TLS certificate refused ({exc.certificate_error})", Verdict.BROKEN)
        except aiohttp.ClientConnectorError as exc:
            return _connect_error(url, exc)
        except (aiohttp.ServerTimeoutError, TimeoutError):
            return _Answer.failed(url, "timed out", Verdict.TRANSIENT)
        except ssl.SSLError as exc:
            return _Answer.failed(url, f"TLS error ({exc.reason})", Verdict.BROKEN)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
            return _Answer.failed(url, f"connection dropped ({type(exc).__name__})", Verdict.TRANSIENT, retryable=True)
        except aiohttp.ClientResponseError as exc:
            return _Answer.failed(url, f"malformed answer ({exc.message})", Verdict.BROKEN)
        except aiohttp.ClientError as exc:
            return _Answer.failed(url, f"request failed ({type(exc).__name__})", Verdict.TRANSIENT)


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
    if isinstance(os_error, BlockedAddress):
        return _Answer.failed(url, f"not checked: {os_error.reason}", Verdict.BLOCKED)
    if isinstance(os_error, socket.gaierror) or isinstance(exc, getattr(aiohttp, "ClientConnectorDNSError", ())):
        return _Answer.failed(url, "the host name does not exist (DNS)", Verdict.BROKEN)
    if isinstance(os_error, ConnectionRefusedError):
        return _Answer.failed(url, "connection refused", Verdict.BROKEN)
    if isinstance(os_error, TimeoutError):
        return _Answer.failed(url, "connection timed out", Verdict.TRANSIENT)
    return _Answer.failed(url, f"cannot connect ({os_error.strerror or os_error})", Verdict.TRANSIENT, retryable=True)


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
    """Seconds to wait (``inf`` kept: it is over any cap, and said so); None when unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None  # nan and negative waits mean nothing
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


_OPEN_TAG = {tag: re.compile(rf"<{tag}\b", re.IGNORECASE) for tag in ("title", "h1")}
_CLOSE_TAG = {tag: re.compile(rf"</{tag}\s*>", re.IGNORECASE) for tag in ("title", "h1")}


def _elements(body: str, tag: str, limit: int) -> list[str]:
    """The inner markup of the first ``limit`` ``<tag>`` elements, in one forward pass.

    Linear in the page: every search starts where the last one ended, and an element that
    is never closed ends the search (a regular expression looking for each opening tag's
    end would rescan the rest of the page for every one of them).
    """
    found: list[str] = []
    pos = 0
    while len(found) < limit:
        start = _OPEN_TAG[tag].search(body, pos)
        if start is None:
            break
        inner = body.find(">", start.end())
        if inner < 0:
            break
        end = _CLOSE_TAG[tag].search(body, inner + 1)
        if end is None:
            break
        found.append(body[inner + 1:end.start()][:_HEADING_LIMIT])
        pos = end.end()
    return found


def _strip_tags(markup: str) -> str:
    """Markup without its tags, each tag a space; an unclosed tag ends the text. Linear."""
    parts: list[str] = []
    pos = 0
    while True:
        lt = markup.find("<", pos)
        if lt < 0:
            parts.append(markup[pos:])
            break
        parts.append(markup[pos:lt])
        gt = markup.find(">", lt)
        if gt < 0:
            break
        parts.append(" ")
        pos = gt + 1
    return "".join(parts)


def _page_says_not_found(body: str) -> str | None:
    for raw in _elements(body, "title", 1) + _elements(body, "h1", 2):
        text = " ".join(html.unescape(_strip_tags(raw)).split())
        if text and _SOFT404.search(text[:300]):
            return text[:80]
    return None


def _classify(url: str, kind: str, answer: _Answer, hops: list[tuple[str, int]], final: str) -> CheckResult:
    status = answer.status or 0
    extra = answer.note
    res = CheckResult(url, Verdict.OK, status, final, hops=hops)
    doi_missing = kind == "doi" and not hops and status in (404, 410)
    if 200 <= status < 300 or status == 304:
        said = _page_says_not_found(answer.body) if answer.body else None
        if said:
            res.verdict, res.detail = Verdict.BROKEN, f"soft 404: the page says “{said}”"
        elif hops and _ERROR_PAGE_PATH.search(urlsplit(final).path):
            res.verdict, res.detail = Verdict.BROKEN, "redirects to an error page"
        elif hops and kind == "url" and urlsplit(final).path in ("", "/") and _deep(urlsplit(url).path):
            res.verdict, res.detail = Verdict.BROKEN, "redirects to the site's home page (the page is gone)"
        else:
            new_url = _permanent_target(hops, final)
            if kind == "url" and new_url and new_url != url:
                res.verdict, res.new_url = Verdict.REDIRECTED, new_url
                res.detail = f"moved permanently to {new_url}"
            elif hops:
                res.detail = f"{len(hops)} redirect(s)" + (" through the DOI resolver" if kind == "doi" else "")
        return res
    wall = _challenge(status, answer.headers, answer.body)
    if wall:
        res.verdict, res.detail = Verdict.BLOCKED, f"HTTP {status}: {wall}; check it in a browser"
    elif status in (401, 403, 407, 451):
        res.verdict = Verdict.BLOCKED
        res.detail = f"HTTP {status}: the site refuses automated checks; check it in a browser"
    elif doi_missing:
        res.verdict, res.detail = Verdict.BROKEN, f"HTTP {status}: the DOI resolver does not know this DOI"
    elif status in (404, 410):
        res.verdict = Verdict.BROKEN
        res.detail = f"HTTP {status}" + (" after redirects (the new address is dead)" if hops else "")
    elif status == 429:
        res.verdict, res.detail = Verdict.TRANSIENT, "HTTP 429: rate limited, still after retries" + extra
    elif 500 <= status < 600:
        res.verdict, res.detail = Verdict.TRANSIENT, f"HTTP {status}: server error, still after retries" + extra
    else:
        res.verdict, res.detail = Verdict.BROKEN, f"HTTP {status}"
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


async def check_urls(urls: Sequence[tuple[str, str]], options: CheckerOptions, *, on_result: Any = None,
                     cost: Mapping[str, float] | None = None,
                     resolver: Any = None) -> tuple[dict[str, CheckResult], LinkChecker]:
    """Check ``(url, kind)`` pairs (each address once); ``on_result(result)`` as each finishes.

    ``cost``: the seconds each address took last time, to start the slow ones first.
    ``resolver``: see :class:`LinkChecker`.
    """
    unique: dict[str, str] = {}
    for url, kind in urls:
        unique.setdefault(url, kind)
    results: dict[str, CheckResult] = {}
    async with LinkChecker(options, resolver=resolver) as checker:

        async def one(url: str, kind: str) -> None:
            res = await checker.check(url, kind)
            results[url] = res
            if on_result is not None:
                on_result(res)

        tasks = [asyncio.create_task(one(u, unique[u])) for u in _busiest_hosts_first(list(unique), cost)]
        try:
            # A run that outlives its time limit (a whole host dripping, say) stops: the
            # unfinished checks are dropped, not recorded, and checked on the next run.
            async with asyncio.timeout(options.max_duration):
                await asyncio.gather(*tasks)
        except TimeoutError:
            checker.out_of_time = True
            checker.unchecked = len(unique) - len(results)
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
        by_host[host_key(u) if not url_problem(u) else ""].append(u)
    for queue in by_host.values():
        queue.sort(key=lambda u: -cost.get(u, guess))
    queues = sorted(by_host.values(), key=lambda q: -sum(cost.get(u, guess) for u in q))
    out: list[str] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out


