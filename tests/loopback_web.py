"""A small web of misbehaving sites on loopback, for link-audit tests and the benchmark.

Each host is its own aiohttp server bound to its own 127.0.0.x address (on Linux all of
127.0.0.0/8 is loopback), so a client keyed by host name sees separate hosts. Every
host records the most requests it had in flight at once, so tests can assert that a
per-host limit was never exceeded, plus every request's method and path.

    with LoopbackWeb() as web:
        site = web.host("site")                       # 127.0.0.2 by default
        site.page("/ok")                              # 200 text/html
        site.page("/moved", status=301, to=web.url("site", "/ok"))
        site.page("/flaky", status=503, times=1, retry_after=1)   # 503 once, then 200
        site.page("/slow", drip=0.1)                  # headers, then a byte of body every 0.1 s
        site.page("/slower", drip=0.1, drip_headers=True)  # even the headers a byte at a time
        web.url("site", "/ok")                        # http://127.0.0.2:PORT/ok

Nothing listens outside 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Page:
    """How one path answers. ``times``: answer ``status`` that many times, then 200 (0 = always)."""

    status: int = 200
    to: str | None = None  # Location for 3xx
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # never answer (until the client gives up)
    times: int = 0
    retry_after: str | int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    content_type: str = "text/html"
    head_status: int | None = None  # a different status for HEAD (e.g. 405)
    drip: float = 0.0  # seconds between bytes of an endless answer (0: answer at once)
    drip_headers: bool = False  # drip the status line and headers too (else only the body)
    served: int = 0


class Host:
    """One site: its pages and what it saw."""

    def __init__(self, name: str, address: str, *, max_in_flight: int | None = None,
                 rate_limit_retry_after: int = 1) -> None:
        self.name = name
        self.address = address
        self.port = 0
        self.pages: dict[str, Page] = {}
        # A publisher that answers 429 as soon as more than this many requests are in flight.
        self.max_in_flight = max_in_flight
        self.rate_limit_retry_after = rate_limit_retry_after
        self.in_flight = 0
        self.peak = 0
        self.requests: list[tuple[str, str]] = []
        self.statuses: Counter[int] = Counter()
        self.rate_limited = 0
        self.lock = threading.Lock()

    def page(self, path: str, status: int = 200, **kwargs: Any) -> str:
        self.pages[path] = Page(status=status, **kwargs)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.port}{path}"

    def methods(self, path: str) -> list[str]:
        return [m for m, p in self.requests if p == path]

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.requests.append((request.method, request.path_qs))
            over = self.max_in_flight is not None and self.in_flight > self.max_in_flight
        try:
            resp = await self._answer(request, over)
            self.statuses[resp.status] += 1
            return resp
        finally:
            with self.lock:
                self.in_flight -= 1

    async def _answer(self, request: web.BaseRequest, over: bool) -> web.StreamResponse:
        page = self.pages.get(request.path_qs) or self.pages.get(request.path)
        if page is not None and page.delay:
            await asyncio.sleep(page.delay)
        if over:
            self.rate_limited += 1
            return web.Response(status=429, headers={"Retry-After": str(self.rate_limit_retry_after)},
                                text="Too many requests")
        if page is None:
            return web.Response(status=404, text="<html><title>404 Not Found</title></html>",
                                content_type="text/html")
        if page.hang:
            await asyncio.sleep(3600)  # cancelled when the client disconnects
        if page.drip:
            return await _drip(request, page)
        page.served += 1
        status = page.status
        if page.times and page.served > page.times:
            status = 200
        if request.method == "HEAD" and page.head_status is not None:
            status = page.head_status
        headers = dict(page.headers) if status == page.status else {}
        if 300 <= status < 400 and page.to:
            headers["Location"] = page.to
        if page.retry_after is not None and status in (429, 503):
            headers["Retry-After"] = str(page.retry_after)
        body = page.body if page.body is not None and status == page.status else _default_body(status)
        return web.Response(status=status, headers=headers, body=body.encode("utf-8"),
                            content_type=page.content_type if status < 300 else "text/html", charset="utf-8")


async def _drip(request: web.BaseRequest, page: Page) -> web.StreamResponse:
    """An answer that never ends, a byte at a time; the handler is cancelled when the client gives up."""
    page.served += 1
    if page.drip_headers:
        transport = request.transport
        assert transport is not None
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: "
        for i in range(len(head) + 3600):
            if transport.is_closing():
                break
            transport.write(head[i:i + 1] if i < len(head) else b"z")
            await asyncio.sleep(page.drip)
        raise asyncio.CancelledError  # nothing more to say: the connection is dropped
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/html; charset=utf-8"})
    await resp.prepare(request)
    await resp.write(b"<html><head><title>Slow")
    for _ in range(3600):
        await asyncio.sleep(page.drip)
        await resp.write(b".")
    return resp


def _default_body(status: int) -> str:
    if status == 200:
        return "<html><head><title>A report</title></head><body><h1>A report</h1><p>Text.</p></body></html>"
    return f"<html><head><title>Status {status}</title></head><body></body></html>"


def soft_404_body() -> str:
    return ("<html><head><title>Page introuvable</title></head><body><h1>Oups !</h1>"
            "<p>La page que vous cherchez n'existe pas.</p></body></html>")


def challenge_headers() -> dict[str, str]:
    return {"cf-mitigated": "challenge", "Server": "cloudflare", "cf-ray": "8a1b2c3d4e5f-CDG"}


def challenge_body() -> str:
    return "<html><head><title>Just a moment...</title></head><body>challenge-platform</body></html>"


class LoopbackWeb:
    """Starts hosts in a background thread with their own event loop."""

    def __init__(self, base: str = "127.0.0") -> None:
        self.base = base
        self.hosts: dict[str, Host] = {}
        self._next = 2
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.ServerRunner] = []
        self.thread.start()

    def host(self, name: str, *, address: str | None = None, **kwargs: Any) -> Host:
        """A new site on its own loopback address (or return the one of that name)."""
        if name in self.hosts:
            return self.hosts[name]
        if address is None:
            address = f"{self.base}.{self._next}"
            self._next += 1
        host = Host(name, address, **kwargs)
        asyncio.run_coroutine_threadsafe(self._start(host), self.loop).result(10)
        self.hosts[name] = host
        return host

    async def _start(self, host: Host) -> None:
        server = web.Server(host.handle, handler_cancellation=True)
        runner = web.ServerRunner(server, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host.address, 0, backlog=1024)
        await site.start()
        host.port = runner.addresses[0][1]
        self.runners.append(runner)

    def url(self, host: str, path: str) -> str:
        return self.hosts[host].url(path)

    def refused_url(self, address: str | None = None) -> str:
        """An address where nothing listens: the port was bound, then closed."""
        address = address or f"{self.base}.1"
        with socket.socket() as s:
            s.bind((address, 0))
            port = s.getsockname()[1]
        return f"http://{address}:{port}/gone"

    def peaks(self) -> dict[str, int]:
        return {name: h.peak for name, h in self.hosts.items()}

    def close(self) -> None:
        async def stop() -> None:
            for runner in self.runners:
                await runner.cleanup()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()

    def __enter__(self) -> LoopbackWeb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def loopback_web() -> Iterator[LoopbackWeb]:
    web_ = LoopbackWeb()
    try:
        yield web_
    finally:
        web_.close()
