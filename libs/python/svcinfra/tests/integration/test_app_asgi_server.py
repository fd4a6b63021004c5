"""An ASGI app served as a lifecycle task: up after setup, down before resources close."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from svcinfra.app import AsgiServer, Lifecycle

if TYPE_CHECKING:
    from starlette.requests import Request


def _status(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
    except OSError:
        return None


async def status(port: int) -> int | None:
    """GET /hello from a thread (the server runs in this loop), None when refused."""
    return await asyncio.to_thread(_status, port)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def hello(_: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


APP = Starlette(routes=[Route("/hello", hello)])


async def wait_serving(server: AsgiServer) -> int:
    for _ in range(500):
        try:
            return server.port
        except RuntimeError:
            await asyncio.sleep(0.01)
    pytest.fail("the server did not start")


async def test_server_task_stops_before_resources_close() -> None:
    """The API answers while running and no longer once the resources it uses are closing."""
    lc = Lifecycle()
    seen_while_closing: list[int | None] = []
    api = AsgiServer(APP, host="127.0.0.1", port=free_port())

    async def close_pool() -> None:
        seen_while_closing.append(await status(api_port))

    lc.push_close("pool", close_pool)
    lc.add_task("api", api.serve, stop=api.request_stop)
    lc.start()
    api_port = await wait_serving(api)
    assert await status(api_port) == 200

    report = await lc.shutdown(timeout=10)

    assert report.clean
    assert lc.crashed_tasks == ()
    assert seen_while_closing == [None]


async def test_a_busy_api_port_crashes_the_task_and_requests_the_shutdown() -> None:
    """A server task that cannot bind its port fails, which starts the shutdown."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        lc = Lifecycle()
        api = AsgiServer(APP, host="127.0.0.1", port=taken.getsockname()[1])
        lc.add_task("api", api.serve, stop=api.request_stop)
        lc.start()

        reason = await asyncio.wait_for(lc.wait_for_shutdown(), timeout=10)

    assert reason == "task api failed"
    assert lc.crashed_tasks == ("api",)
    await lc.shutdown(timeout=5)


async def test_context_manager_serves_and_releases_the_port() -> None:
    """As an async context manager it serves inside the block and frees the port after it."""
    async with AsgiServer(APP, host="127.0.0.1", port=0) as api:
        port = api.port
        assert await status(port) == 200

    assert await status(port) is None
    with pytest.raises(RuntimeError, match="not serving"):
        _ = api.port


async def _get_on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Send GET /hello on an open keep-alive connection; the answer's bytes (b"" when closed)."""
    writer.write(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    return head + await reader.readexactly(len(b"hello"))


async def test_an_idle_keep_alive_connection_outlives_a_clients_own_expiry() -> None:
    """A connection idle longer than httpx's keepalive_expiry (5 s, uvicorn's default too) is
    still open: the client gives it up first, so a request it sends on it never meets the
    server's close (RemoteProtocolError, the race the clustered chaos run met). With uvicorn's
    default the second request gets b"" here."""
    async with AsgiServer(APP, host="127.0.0.1", port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            assert (await _get_on(reader, writer)).endswith(b"hello")
            await asyncio.sleep(6)
            assert (await _get_on(reader, writer)).endswith(b"hello")
        finally:
            writer.close()


async def test_an_idle_keep_alive_connection_does_not_hold_up_the_stop() -> None:
    """The long keep-alive does not lengthen a shutdown: the server closes idle connections
    when it stops instead of waiting out their 75 s (a hang guard of 30 s, not a timing)."""
    server = AsgiServer(APP, host="127.0.0.1", port=0, drain_timeout=1)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        assert (await _get_on(reader, writer)).endswith(b"hello")
        async with asyncio.timeout(30):
            await server.aclose()
            assert await reader.read() == b""  # closed by the server, not by us
    finally:
        writer.close()
