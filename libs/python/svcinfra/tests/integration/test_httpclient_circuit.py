"""The circuit breaker against a real failing server: opens, fails fast, probes, closes (EX-3)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import REGISTRY

from svcinfra.httpclient import (
    ApiClient,
    CircuitOpenError,
    CircuitState,
    HttpClientSettings,
    NotFoundError,
    RateLimitedError,
    TemporaryError,
)
from svcinfra.httpclient.testing import Reply, UpstreamServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

RESET = 0.3


class GeoSettings(HttpClientSettings):
    """Settings of the test API."""

    env_section = "GEO_API_"


class GeoApi(ApiClient):
    """The adapter under test."""

    name = "geo-api"


def _gauge() -> float | None:
    return REGISTRY.get_sample_value("svcinfra_http_client_circuit_state", {"adapter": "geo-api"})


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[UpstreamServer]:
    async with UpstreamServer(default=Reply(503)) as server:
        yield server


@pytest.fixture(name="api")
async def _api(server: UpstreamServer) -> AsyncIterator[GeoApi]:
    settings: dict[str, Any] = {
        "connect_timeout": 0.5, "read_timeout": 0.5, "write_timeout": 0.5, "pool_timeout": 0.5,
        "deadline": 2.0, "retry_attempts": 1, "breaker_threshold": 3,
        "breaker_reset_timeout": RESET,
    }  # fmt: skip
    async with GeoApi(GeoSettings(base_url=server.url, **settings)) as api:
        yield api


async def _fail(api: GeoApi, times: int) -> None:
    for _ in range(times):
        with pytest.raises(TemporaryError):
            await api.request("GET", "/places")


async def test_opens_after_repeated_failures_and_fails_fast(
    server: UpstreamServer,
    api: GeoApi,
) -> None:
    """Three 503s in a row open the circuit; the next call fails fast, temporary and unsent."""
    await _fail(api, 3)
    assert api.circuit_state == CircuitState.OPEN
    assert _gauge() == CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        await api.request("GET", "/places")
    assert info.value.temporary
    assert 0 < (info.value.retry_after or 0) <= RESET
    assert len(server.requests) == 3


async def test_a_healthy_probe_closes_the_circuit(server: UpstreamServer, api: GeoApi) -> None:
    """After the reset timeout one probe goes through; its success closes the circuit."""
    await _fail(api, 3)
    await asyncio.sleep(RESET)
    assert api.circuit_state == CircuitState.HALF_OPEN
    assert _gauge() == CircuitState.HALF_OPEN
    server.default = Reply.json({"ok": True})
    assert await api.request_json("GET", "/places") == {"ok": True}
    assert api.circuit_state == CircuitState.CLOSED
    assert _gauge() == CircuitState.CLOSED


async def test_a_failed_probe_opens_it_again(server: UpstreamServer, api: GeoApi) -> None:
    """A probe that fails opens the circuit for another reset timeout."""
    await _fail(api, 3)
    await asyncio.sleep(RESET)
    await _fail(api, 1)
    assert api.circuit_state == CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await api.request("GET", "/places")
    assert len(server.requests) == 4


async def test_only_one_probe_while_half_open(server: UpstreamServer, api: GeoApi) -> None:
    """While the probe is out, concurrent calls wait for its verdict instead of being sent or
    failed; a healthy probe lets them all through (a retry wave's last attempts, issue 17)."""
    await _fail(api, 3)
    await asyncio.sleep(RESET)
    server.script(Reply(200, body=b"{}", delay=0.3))
    server.default = Reply.json({"ok": True})
    probe = asyncio.create_task(api.request("GET", "/places"))
    await asyncio.sleep(0.1)
    waiting = [asyncio.create_task(api.request_json("GET", "/places")) for _ in range(14)]
    await asyncio.sleep(0.1)
    assert len(server.requests) == 4  # 3 failures + the probe: the others wait
    assert not any(w.done() for w in waiting)
    await probe
    assert await asyncio.gather(*waiting) == [{"ok": True}] * 14
    assert len(server.requests) == 4 + 14
    assert api.circuit_state == CircuitState.CLOSED


async def test_a_failed_probe_fails_its_waiters_fast(server: UpstreamServer, api: GeoApi) -> None:
    """The probe fails: the calls that waited for it fail fast, unsent, with the circuit open."""
    await _fail(api, 3)
    await asyncio.sleep(RESET)
    server.script(Reply(503, delay=0.3))
    probe = asyncio.create_task(api.request("GET", "/places"))
    await asyncio.sleep(0.1)
    waiting = [asyncio.create_task(api.request("GET", "/places")) for _ in range(5)]
    outcomes = await asyncio.gather(probe, *waiting, return_exceptions=True)
    assert isinstance(outcomes[0], TemporaryError)
    assert not isinstance(outcomes[0], CircuitOpenError)
    assert all(isinstance(o, CircuitOpenError) for o in outcomes[1:])
    assert len(server.requests) == 4
    assert api.circuit_state == CircuitState.OPEN


@pytest.mark.parametrize(
    ("reply", "error"),
    [(Reply(404), NotFoundError), (Reply(429), RateLimitedError)],
    ids=["404", "429"],
)
async def test_client_errors_and_throttling_do_not_open_it(
    server: UpstreamServer,
    api: GeoApi,
    reply: Reply,
    error: type[Exception],
) -> None:
    """4xx answers prove the upstream alive and 429 is throttling: neither opens the circuit."""
    server.default = reply
    for _ in range(5):
        with pytest.raises(error):
            await api.request("GET", "/places")
        api._limiter._resume_at = 0.0  # a 429 pauses the adapter; the pause is not under test
    assert api.circuit_state == CircuitState.CLOSED
