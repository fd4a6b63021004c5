"""`PooledTransport` on real sockets: what the wire does is read as httpx's transport reads it.

The retry policy retries a call that surely never left even when it is not idempotent, so a
server that hangs up, garbles or cuts its answer must never read as a connection that failed
to open. Each server here is a few lines of asyncio speaking raw HTTP/1.1, so that every byte
(and every hang-up) is the test's.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from svcinfra.httpclient import ApiClient, HttpClientSettings, TemporaryError
from svcinfra.httpclient._transport import SMALL_BODY, PooledTransport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    Answer = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]

FAST = {
    "connect_timeout": 0.5,
    "read_timeout": 0.5,
    "write_timeout": 0.5,
    "pool_timeout": 0.5,
    "deadline": 3.0,
    "retry_backoff_initial": 0.01,
    "retry_backoff_max": 0.05,
}


class WireSettings(HttpClientSettings):
    """Settings of the test API."""

    env_section = "WIRE_API_"


class WireApi(ApiClient):
    """An adapter without idempotency keys: a POST is resent only if it surely never left."""

    name = "wire-api"


def _ok(body: object, *extra: str) -> bytes:
    payload = json.dumps(body).encode()
    head = ["HTTP/1.1 200 OK", "content-type: application/json", f"content-length: {len(payload)}"]
    return ("\r\n".join([*head, *extra]) + "\r\n\r\n").encode() + payload


class RawServer:
    """Reads each request whole, then lets `answer(head, body, writer)` reply (True: keep open)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.in_flight = self.most_in_flight = 0
        self._writers: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers[writer] = asyncio.current_task()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                try:
                    keep = await self.answer(head, body, writer)
                finally:
                    self.in_flight -= 1
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.pop(writer, None)
            writer.close()

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
            handlers = [task for task in self._writers.values() if task is not None]
            for writer in list(self._writers):
                writer.transport.abort()
            await asyncio.gather(*handlers, return_exceptions=True)


@asynccontextmanager
async def _api(answer: Answer, **settings: Any) -> AsyncIterator[tuple[WireApi, RawServer]]:
    server = RawServer(answer)
    async with server.serve() as url:
        api = WireApi(WireSettings(base_url=url, **{**FAST, **settings}))
        assert isinstance(api._http._transport, PooledTransport)
        async with api:
            yield api, server


async def test_connections_are_reused_and_bounded() -> None:
    """40 calls, 20 of them at once, over at most `max_connections` kept-alive connections."""

    async def answer(head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.01)
        writer.write(_ok({"path": head.split(b" ")[1].decode()}))
        return True

    async with _api(answer, max_connections=4, max_keepalive_connections=4) as (api, server):
        for i in range(20):
            assert await api.request_json("GET", "/n/{i}", path={"i": i}) == {"path": f"/n/{i}"}
        results = await asyncio.gather(
            *(api.request_json("GET", "/n/{i}", path={"i": i}) for i in range(20))
        )
    assert [r["path"] for r in results] == [f"/n/{i}" for i in range(20)]
    assert server.connections <= 4
    assert server.most_in_flight == 4


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param(b"", "protocol_error", id="hangs-up-without-answer"),
        pytest.param(b"HELLO THERE\r\n\r\n", "protocol_error", id="not-http"),
        pytest.param(
            b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"cut": ',
            "protocol_error",
            id="body-cut-short",
        ),
    ],
)
async def test_an_answer_lost_after_the_post_left_is_not_resent(reply: bytes, reason: str) -> None:
    """Whatever breaks after the request was read, a POST without a key is sent once."""

    async def answer(_head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(reply)
        return False  # and hang up

    async with _api(answer) as (api, server):
        with pytest.raises(TemporaryError) as info:
            await api.request("POST", "/things", json={"a": 1})
    assert (info.value.reason, info.value.attempts) == (reason, 1)
    assert len(server.requests) == 1


async def test_a_cut_answer_to_a_get_is_retried() -> None:
    """The same cut body on a GET: a temporary failure, and the second attempt succeeds."""
    replies = [b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"cut": ', _ok({"n": 2})]

    async def answer(_head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(replies.pop(0))
        return not replies

    async with _api(answer) as (api, server):
        assert await api.request_json("GET", "/things") == {"n": 2}
    assert len(server.requests) == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    """A server that drops idle connections: the next POST opens a new one and goes once."""

    async def answer(_head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(_ok({"got": json.loads(body)}))
        await writer.drain()
        asyncio.get_running_loop().call_later(0.05, writer.close)  # idle timeout, no header
        return True

    async with _api(answer) as (api, server):
        assert await api.request_json("POST", "/things", json={"n": 1}) == {"got": {"n": 1}}
        await asyncio.sleep(0.3)
        assert await api.request_json("POST", "/things", json={"n": 2}) == {"got": {"n": 2}}
    assert (len(server.requests), server.connections) == (2, 2)


async def test_encoded_answers_are_decoded_and_cookies_sent_once() -> None:
    """gzip is decoded by httpx, as on its own transport; a cookie goes back once, not twice."""

    async def answer(head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> bool:
        payload = gzip.compress(json.dumps({"cookie": _header(head, b"cookie")}).encode())
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
            b"set-cookie: session=s1; Path=/\r\n"
            + f"content-length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        return True

    async with _api(answer) as (api, _server):
        assert await api.request_json("GET", "/a") == {"cookie": None}
        assert await api.request_json("GET", "/b") == {"cookie": "session=s1"}


async def test_large_uploads_share_the_pool_with_small_calls() -> None:
    """A body above SMALL_BODY goes through httpx's transport, under the same connection bound."""

    async def answer(_head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.6 if len(body) > SMALL_BODY else 0)
        writer.write(_ok({"size": len(body)}))
        return True

    limits = {"max_connections": 1, "max_keepalive_connections": 1}
    settings = {"pool_timeout": 0.2, "read_timeout": 2.0, "retry_attempts": 1}
    async with _api(answer, **limits, **settings) as (api, _server):
        upload = asyncio.create_task(
            api.request_json("PUT", "/blobs/1", content=b"x" * (SMALL_BODY + 1))
        )
        await asyncio.sleep(0.1)
        with pytest.raises(TemporaryError) as info:
            await api.request("GET", "/small")
        assert info.value.reason == "pool_timeout"
        assert await upload == {"size": SMALL_BODY + 1}
        assert await api.request_json("GET", "/small") == {"size": 0}


async def test_the_server_gets_the_headers_httpx_own_transport_sends() -> None:
    """Same request through both transports: the same header lines (aiohttp adds none)."""

    async def answer(_head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(_ok({}))
        return True

    async def received(transport: httpx.AsyncBaseTransport | None) -> list[list[bytes]]:
        server = RawServer(answer)
        async with server.serve() as url:
            settings = WireSettings(base_url=url, api_key="k-1", **FAST)
            async with WireApi(settings, transport=transport) as api:
                await api.request("POST", "/raw", content=b"raw bytes", headers={"X-A": "1"})
                await api.request("GET", "/things", params={"q": "a b"})
        port = url.rsplit(":", 1)[1].encode()
        return [sorted(head.replace(port, b"<port>").split(b"\r\n")) for head, _ in server.requests]

    pooled = await received(None)
    assert pooled == await received(httpx.AsyncHTTPTransport())
    assert not any(line.lower().startswith(b"content-type") for line in pooled[0])


async def test_a_proxy_from_the_environment_keeps_httpx_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With HTTP_PROXY set for the API's host, httpx's transport (which proxies) is kept."""
    settings = WireSettings(base_url="http://api.example:8080", **FAST)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    async with WireApi(settings) as api:
        assert not isinstance(api._http._transport, PooledTransport)
    monkeypatch.setenv("NO_PROXY", "api.example")
    async with WireApi(settings) as api:
        assert isinstance(api._http._transport, PooledTransport)


def _header(head: bytes, name: bytes) -> str | None:
    values = [
        value.strip().decode()
        for key, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
        if key.strip().lower() == name
    ]
    return "; ".join(values) if values else None


def test_every_aiohttp_failure_maps_to_the_httpx_class_of_the_same_event() -> None:
    """The mapping the retry policy reads: only failures to connect read as never sent."""
    import aiohttp  # noqa: PLC0415
    from aiohttp.client_reqrep import ConnectionKey  # noqa: PLC0415

    from svcinfra.httpclient._policy import transport_failure  # noqa: PLC0415
    from svcinfra.httpclient._transport import http_failure  # noqa: PLC0415

    key = ConnectionKey(
        host="h",
        port=80,
        is_ssl=False,
        ssl=True,
        proxy=None,
        proxy_auth=None,
        proxy_headers_hash=None,
    )
    cases = {
        aiohttp.ConnectionTimeoutError(): "connect_timeout",
        aiohttp.SocketTimeoutError(): "read_timeout",
        aiohttp.ClientConnectorError(key, OSError(111, "refused")): "connect_error",
        aiohttp.ServerDisconnectedError(): "protocol_error",
        aiohttp.ClientPayloadError("cut"): "protocol_error",
        aiohttp.ClientOSError(104, "reset"): "network_error",
        aiohttp.ClientConnectionResetError(): "network_error",
        aiohttp.ClientError(): "network_error",
    }
    got = {type(exc).__name__: transport_failure(http_failure(exc))[1] for exc in cases}
    assert got == {type(exc).__name__: reason for exc, reason in cases.items()}
    assert isinstance(http_failure(aiohttp.ServerDisconnectedError()), httpx.HTTPError)
