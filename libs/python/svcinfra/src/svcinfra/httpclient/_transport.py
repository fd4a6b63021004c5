"""`PooledTransport`: httpx requests sent through aiohttp's connection pool.

On httpx's own transport (httpcore, anyio, the pure-Python h11 parser) a small call through
`ApiClient` cost ~0.65 ms of CPU here one at a time and ~1.4 ms with 16 in flight; on this one
0.4-0.5 ms either way (`bench/httpclient_bench.py`; aiohttp's HTTP parser is C). `ApiClient`
keeps httpx for everything above the wire (requests, auth, cookies, decoding, the error classes
its retry policy reads) and sends through this transport.

What the wire does is read as httpx's transport reads it, because the retry policy depends on
it (`_policy.py`: a request that surely never left is retried even when it is not idempotent):
- a connection that could not be opened is `ConnectError` / `ConnectTimeout`, a wait for a
  free connection `PoolTimeout`, and only those; everything after the request may have left is
  a read, protocol or network error. The mapping below is written for that; httpx-aiohttp's
  maps any `ClientConnectionError`, a server that hung up mid-answer included, to
  `ConnectTimeout`, which would resend a POST that may have taken effect.
- the pool is bounded by `max_connections`, with the pool timeout on the wait for a slot;
- aiohttp has no write timeout. A body of up to `SMALL_BODY` bytes is under asyncio's write
  buffer limit, so aiohttp never waits to write it (a stuck upload of it shows as a read
  timeout, the conservative reading); a larger or streamed body goes through httpx's own
  transport, which has one, under the same slot count.

Proxies from the environment are httpx's job: with one set for the API's host, `ApiClient`
keeps httpx's transport (`wants_httpx_transport`).
"""

from __future__ import annotations

import asyncio
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator, Callable

# No larger than asyncio's default write buffer high-water mark (64 KiB), under which a write
# is buffered and returns at once.
SMALL_BODY = 64 * 1024

# aiohttp's failures as the httpx class the same event raises there, most specific first.
_FAILURES: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # opening the connection
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),  # waiting for the answer
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS handshake
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),  # hung up, no answer
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # a cut or garbled body
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # not an HTTP answer
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx.ReadError),  # reset, broken pipe
    (aiohttp.ClientError, httpx.NetworkError),
)


def http_failure(exc: BaseException) -> httpx.TransportError:
    """Return the httpx error for an aiohttp failure (its message names no URL)."""
    for kind, error in _FAILURES:
        if isinstance(exc, kind):
            return error(type(exc).__name__)
    return httpx.NetworkError(type(exc).__name__)


def wants_httpx_transport(base_url: str) -> bool:
    """Whether a proxy from the environment applies to `base_url` (httpx's transport does it).

    Read as httpx reads it: `<scheme>_PROXY` or `ALL_PROXY`, unless `NO_PROXY` exempts the host.
    """
    url = urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(url.hostname or "")  # reads NO_PROXY


class _ReleasingStream(httpx.AsyncByteStream):
    """A response stream that gives its pool slot back once closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class PooledTransport(httpx.AsyncBaseTransport):
    """Send small requests through one aiohttp session, larger ones through httpx's transport.

    Responses are read whole before they are returned (what `httpx.AsyncClient.send` does
    without `stream=True`), so a connection goes back to the pool at once.
    """

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        """Keep the pool's limits; nothing is opened before the first request.

        Args:
            limits: httpx's limits: `max_connections` (required) bounds the requests in flight,
                `keepalive_expiry` the life of an idle connection; `max_keepalive_connections`
                0 closes every connection after its request (else idle ones are all kept).
            ssl_context: for https; by default httpx's (certifi, or `SSL_CERT_FILE`).
        """
        if limits.max_connections is None:
            raise ValueError("PooledTransport needs max_connections")
        self._limits = limits
        self._ssl_context = ssl_context
        self._slots = asyncio.Semaphore(limits.max_connections)
        self._session: aiohttp.ClientSession | None = None
        self._large: httpx.AsyncHTTPTransport | None = None
        self._timeouts: dict[tuple[Any, Any], aiohttp.ClientTimeout] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection") from None
        released = False
        try:
            try:
                body = request.content
            except httpx.RequestNotRead:
                body = None
            if body is None or len(body) > SMALL_BODY:
                response = await self._send_large(request)
                response.stream = _ReleasingStream(response.stream, self._slots.release)  # type: ignore[arg-type]
                released = True  # by the stream
                return response
            return await self._send(request, body, timeouts)
        finally:
            if not released:
                self._slots.release()

    async def _send(
        self, request: httpx.Request, body: bytes, timeouts: dict[str, float | None]
    ) -> httpx.Response:
        session = self._session or self._open()
        try:
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=CIMultiDict(
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in request.headers.raw  # the case httpx sends
                ),
                data=body or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes, as for its own transport
                timeout=self._timeout(timeouts.get("connect"), timeouts.get("read")),
            )
            try:
                content = await response.read()  # gives the connection back when done
            except BaseException:
                response.close()  # never back to the pool half-read
                raise
        except aiohttp.ClientError as exc:
            raise http_failure(exc) from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            content=content,
            request=request,
            extensions=extensions,
        )

    async def _send_large(self, request: httpx.Request) -> httpx.Response:
        if self._large is None:
            self._large = httpx.AsyncHTTPTransport(
                verify=self._ssl(), limits=self._limits, trust_env=False
            )
        return await self._large.handle_async_request(request)

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=0,  # the slots above bound it, with the pool timeout on their wait
            keepalive_timeout=self._limits.keepalive_expiry,
            force_close=self._limits.max_keepalive_connections == 0,
            ssl=self._ssl(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
            trust_env=False,  # proxies: see `wants_httpx_transport`
            auto_decompress=False,
            skip_auto_headers=("Content-Type",),  # send httpx's headers, and only those
        )
        return self._session

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    def _timeout(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get((connect, read))
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=connect, sock_read=read
            )
            self._timeouts[(connect, read)] = timeout
        return timeout

    async def aclose(self) -> None:
        session, self._session = self._session, None
        large, self._large = self._large, None
        try:
            if session is not None:
                await session.close()
        finally:
            if large is not None:
                await large.aclose()
