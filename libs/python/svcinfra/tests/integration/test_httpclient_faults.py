"""Adapters against a real loopback server injecting faults: timeouts, resets, cut bodies."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from svcinfra.httpclient import (
    ApiClient,
    CircuitState,
    DeadlineExceededError,
    HttpClientSettings,
    MalformedResponseError,
    NotFoundError,
    TemporaryError,
)
from svcinfra.httpclient.testing import Reply, UpstreamServer, unreachable_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FAST = {
    "connect_timeout": 0.3,
    "read_timeout": 0.3,
    "write_timeout": 0.3,
    "pool_timeout": 0.3,
    "deadline": 3.0,
    "retry_backoff_initial": 0.01,
    "retry_backoff_max": 0.05,
}
SLOW = 1.5  # a delay well beyond every timeout above
BIG_BODY = b"x" * (48 * 1024 * 1024)  # more than loopback socket buffers hold


class ThingsSettings(HttpClientSettings):
    """Settings of the test API."""

    env_section = "THINGS_API_"


class ThingsApi(ApiClient):
    """An adapter without idempotency keys: a POST is not retried once it may have left."""

    name = "things-api"


def _settings(url: str, **overrides: Any) -> ThingsSettings:
    return ThingsSettings(base_url=url, **{**FAST, **overrides})


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[UpstreamServer]:
    async with UpstreamServer() as server:
        yield server


@pytest.fixture(name="api")
async def _api(server: UpstreamServer) -> AsyncIterator[ThingsApi]:
    async with ThingsApi(_settings(server.url)) as api:
        yield api


async def test_connect_timeout_is_temporary_and_retried_even_for_post() -> None:
    """A connect that hangs times out; the POST never left, so it is retried to the limit."""
    async with unreachable_url() as url, ThingsApi(_settings(url)) as api:
        with pytest.raises(TemporaryError) as info:
            await api.request("POST", "/things", json={"a": 1})
    assert (info.value.reason, info.value.attempts) == ("connect_timeout", 3)


async def test_read_timeout_is_retried_for_get(server: UpstreamServer, api: ThingsApi) -> None:
    """An answer slower than the read timeout is a temporary failure; a GET is tried again."""
    server.script(Reply(delay=SLOW), Reply(delay=SLOW), Reply.json({"ok": True}))
    assert await api.request_json("GET", "/things/{id}", path={"id": 7}) == {"ok": True}
    assert len(server.requests) == 3


async def test_read_timeout_on_post_is_not_retried(server: UpstreamServer, api: ThingsApi) -> None:
    """A POST whose answer is lost may have taken effect, so without a key it is sent once."""
    server.script(Reply(delay=SLOW))
    with pytest.raises(TemporaryError) as info:
        await api.request("POST", "/things", json={"a": 1})
    assert (info.value.reason, info.value.attempts) == ("read_timeout", 1)
    assert len(server.requests) == 1


async def test_write_timeout(server: UpstreamServer) -> None:
    """A server that stops reading makes a large upload hit the write timeout."""
    server.script(Reply(ignore_body=True))
    async with ThingsApi(_settings(server.url, retry_attempts=1)) as api:
        with pytest.raises(TemporaryError) as info:
            await api.request("PUT", "/blobs/{id}", path={"id": 1}, content=BIG_BODY)
    assert info.value.reason == "write_timeout"


async def test_pool_timeout(server: UpstreamServer) -> None:
    """With the only connection busy, a second call waits for the pool and times out."""
    server.script(Reply(delay=1.0))
    settings = _settings(
        server.url, max_connections=1, max_keepalive_connections=1, retry_attempts=1,
        read_timeout=2.0, pool_timeout=0.2,
    )  # fmt: skip
    async with ThingsApi(settings) as api:
        busy = asyncio.create_task(api.request("GET", "/slow"))
        await asyncio.sleep(0.1)
        with pytest.raises(TemporaryError) as info:
            await api.request("GET", "/fast")
        await busy
    assert info.value.reason == "pool_timeout"


async def test_deadline_bounds_a_call_slower_than_its_timeouts(server: UpstreamServer) -> None:
    """The call's deadline cuts through attempts and waits: it ends in time, as temporary."""
    server.default = Reply(delay=SLOW)
    async with ThingsApi(_settings(server.url, read_timeout=1.0, deadline=1.0)) as api:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(DeadlineExceededError) as info:
            await api.request("GET", "/things", deadline=0.4)
        elapsed = loop.time() - started
    assert 0.4 <= elapsed < 0.9
    assert info.value.temporary


async def test_retries_stop_when_the_next_wait_would_pass_the_deadline(
    server: UpstreamServer,
) -> None:
    """A wait that would end past the deadline is not slept: the real failure comes back now."""
    server.default = Reply(503, headers={"retry-after": "0.6"})
    async with ThingsApi(_settings(server.url, retry_attempts=10, deadline=1.0)) as api:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TemporaryError) as info:
            await api.request("GET", "/things")
        elapsed = loop.time() - started
    assert (info.value.status, info.value.attempts) == (503, 2)
    assert 0.6 <= elapsed < 1.0


async def test_a_burst_of_503_is_ridden_out(server: UpstreamServer, api: ThingsApi) -> None:
    """Two 503s then a success: the GET succeeds on its third attempt."""
    server.script(Reply(503), Reply(503), Reply.json({"n": 1}))
    assert await api.request_json("GET", "/things") == {"n": 1}
    assert len(server.requests) == 3


async def test_a_long_503_burst_exhausts_attempts(server: UpstreamServer, api: ThingsApi) -> None:
    """More 503s than attempts: a TemporaryError with status 503 after every attempt."""
    server.default = Reply(503, headers={"x-request-id": "req-9"})
    with pytest.raises(TemporaryError) as info:
        await api.request("GET", "/things")
    assert (info.value.status, info.value.attempts, info.value.request_id) == (503, 3, "req-9")


async def test_connection_reset_is_retried_for_get(server: UpstreamServer, api: ThingsApi) -> None:
    """A TCP reset in place of an answer is temporary; a GET goes through on the next try."""
    server.script(Reply(reset=True), Reply.json({"ok": 1}))
    assert await api.request_json("GET", "/things") == {"ok": 1}


async def test_connection_reset_on_post_is_not_retried(
    server: UpstreamServer,
    api: ThingsApi,
) -> None:
    """A reset after a POST was sent leaves its effect unknown: no retry without a key."""
    server.script(Reply(reset=True))
    with pytest.raises(TemporaryError) as info:
        await api.request("POST", "/things", json={})
    assert info.value.reason in {"network_error", "protocol_error"}
    assert info.value.attempts == 1


async def test_body_stalling_half_way_times_out_and_is_retried(
    server: UpstreamServer,
    api: ThingsApi,
) -> None:
    """Headers and half a body, then silence: a read timeout, and the GET is sent again."""
    body = {"items": list(range(200))}
    server.script(Reply(body=body, stall_after=100), Reply.json({"ok": 1}))
    assert await api.request_json("GET", "/things") == {"ok": 1}
    assert len(server.requests) == 2


async def test_malformed_json_is_permanent_and_hides_the_body(
    server: UpstreamServer,
    api: ThingsApi,
) -> None:
    """A success with an undecodable body is permanent, not retried, and the body is not quoted."""
    server.script(Reply(200, body=b'{"email": "alice@example.com", ', headers={
        "content-type": "application/json"}))  # fmt: skip
    with pytest.raises(MalformedResponseError) as info:
        await api.request_json("GET", "/things")
    assert len(server.requests) == 1
    assert "alice" not in str(info.value)
    assert "alice" not in repr(info.value)
    assert info.value.__cause__ is None


async def test_error_response_is_mapped_without_its_body(
    server: UpstreamServer,
    api: ThingsApi,
) -> None:
    """A 404 is a NotFoundError with status and request id, sent once, its body not carried."""
    server.script(Reply.json({"error": "user bob@example.com unknown"}, status=404,
                             x_request_id="req-404"))  # fmt: skip
    with pytest.raises(NotFoundError) as info:
        await api.request("GET", "/users/{id}", path={"id": "bob"})
    assert (info.value.status, info.value.request_id, info.value.attempts) == (404, "req-404", 1)
    assert "bob@example.com" not in str(info.value)


async def test_cancelling_a_call_is_not_swallowed(server: UpstreamServer, api: ThingsApi) -> None:
    """A caller's cancellation propagates at once, is not retried and does not open the circuit."""
    server.script(Reply(delay=SLOW))
    task = asyncio.create_task(api.request("GET", "/things"))
    async with asyncio.timeout(10):  # the call is at the server (however busy the machine)
        while not server.requests:  # noqa: ASYNC110  (the server's list has no event to wait on)
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(server.requests) == 1
    assert api.circuit_state == CircuitState.CLOSED
