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
