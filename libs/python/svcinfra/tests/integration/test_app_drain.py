"""The API's drain at shutdown: readiness 503, serve through the delay, then stop (issue 17).

Kubernetes takes a terminating pod out of its Service's endpoints asynchronously, so new
connections keep arriving for seconds after SIGTERM. A task registered with `drain=api.drain`
keeps serving for the shutdown's drain delay, while readiness already answers `stopping`, and
answers `Connection: close` so keep-alive clients reconnect elsewhere; then it stops accepting
and finishes what is in flight. Real sockets on loopback, uvicorn serving.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from svcinfra.app import AsgiServer, Lifecycle
from svcinfra.testing import capture_logs

HOST = "127.0.0.1"
REQUEST = b"GET /%s HTTP/1.1\r\nHost: test\r\n\r\n"


async def hello(_: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def slow(_: object) -> PlainTextResponse:
    await asyncio.sleep(0.5)
    return PlainTextResponse("slow")


APP = Starlette(routes=[Route("/hello", hello), Route("/slow", slow)])


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str = "hello"
) -> tuple[int, dict[str, str]]:
    """One HTTP/1.1 GET on an open connection; return the status and the lowercased headers."""
    writer.write(REQUEST % path.encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status_line, *lines = head.strip().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), headers


@contextlib.asynccontextmanager
async def connection(port: int):
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def serving(lc: Lifecycle) -> AsgiServer:
    api = AsgiServer(APP, host=HOST, port=0)
    lc.add_task("api", api.serve, stop=api.request_stop, drain=api.drain)
    lc.start()
    for _ in range(500):
        with contextlib.suppress(RuntimeError):
            _ = api.port
            return api
        await asyncio.sleep(0.01)
    pytest.fail("the API did not start")


async def until(condition: object, what: str) -> None:
    for _ in range(500):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"not {what} within 5 s")


async def test_during_the_drain_delay_the_api_serves_with_connection_close() -> None:
    """Readiness says `stopping`; kept-alive and new connections are served and then closed."""
    lc = Lifecycle()
    api = await serving(lc)
    port = api.port
    async with connection(port) as (kept_reader, kept_writer):
        status, headers = await get(kept_reader, kept_writer)
        assert (status, headers.get("connection")) == (200, None)  # kept alive before

        with capture_logs() as logs:
            shutdown = asyncio.create_task(lc.shutdown(timeout=5, drain_delay=1.0))
            await until(lambda: api.draining, "draining")

            assert (await lc.check_readiness()).status == "stopping"
            status, headers = await get(kept_reader, kept_writer)  # the kept-alive connection
            assert (status, headers["connection"]) == (200, "close")
            assert await kept_reader.read() == b""  # the server closed it after the answer
            async with connection(port) as (reader, writer):  # a new connection
                status, headers = await get(reader, writer)
                assert (status, headers["connection"]) == (200, "close")
            assert not shutdown.done()

            report = await shutdown

    assert report.clean
    events = [entry["event"] for entry in logs.entries]
    assert events.index("draining: serving until traffic is routed away") < events.index(
        "shutting down"
    )
    with pytest.raises(OSError, match=r"refused|Connect call failed"):
        await asyncio.open_connection(HOST, port)


async def test_a_request_in_flight_when_the_drain_ends_is_answered() -> None:
    """Stop accepting, finish in flight: a slow request spanning the stop gets its 200."""
    lc = Lifecycle()
    api = await serving(lc)
    port = api.port
    async with connection(port) as (reader, writer):
        shutdown = asyncio.create_task(lc.shutdown(timeout=5, drain_delay=0.2))
        await until(lambda: api.draining, "draining")
        answer = asyncio.create_task(get(reader, writer, "slow"))  # 0.5 s: past the delay
        report = await shutdown

        status, headers = await answer

    assert (status, headers["connection"]) == (200, "close")
    assert report.clean


async def test_without_a_drain_hook_the_shutdown_does_not_wait() -> None:
    """A consumer or relay process (no task with `drain`) stops at once, whatever the delay."""
    lc = Lifecycle()
    stopped = asyncio.Event()

    async def consumer() -> None:
        await stopped.wait()

    lc.add_task("consumer", consumer, stop=stopped.set)
    lc.start()
    await asyncio.sleep(0)

    with capture_logs() as logs:
        report = await asyncio.wait_for(lc.shutdown(timeout=5, drain_delay=60.0), timeout=5)

    assert report.clean
    assert logs.find("draining: serving until traffic is routed away") == []


async def test_a_failing_drain_hook_is_logged_and_the_task_still_stops() -> None:
    """A drain hook that raises does not stop the shutdown: it is logged, the delay is served."""
    lc = Lifecycle()
    stopped = asyncio.Event()

    async def api() -> None:
        await stopped.wait()

    def broken_drain() -> None:
        raise RuntimeError("boom")

    lc.add_task("api", api, stop=stopped.set, drain=broken_drain)
    lc.start()
    await asyncio.sleep(0)

    with capture_logs() as logs:
        report = await lc.shutdown(timeout=5, drain_delay=0.05)

    assert report.clean
    assert [entry["task"] for entry in logs.find("task drain failed")] == ["api"]
