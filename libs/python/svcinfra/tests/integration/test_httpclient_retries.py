"""Retry timing, Retry-After, idempotency keys and rate limits against a real server (EX-3)."""

from __future__ import annotations

import asyncio
import itertools
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import REGISTRY

from svcinfra.httpclient import (
    ApiClient,
    HttpClientSettings,
    RateLimitedError,
    TemporaryError,
)
from svcinfra.httpclient._policy import Backoff
from svcinfra.httpclient.testing import Reply, UpstreamServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FAST = {
    "connect_timeout": 0.5,
    "read_timeout": 0.5,
    "write_timeout": 0.5,
    "pool_timeout": 0.5,
    "deadline": 5.0,
    "retry_backoff_initial": 0.01,
    "retry_backoff_max": 0.05,
}
# Scheduling slack on a shared 2-core machine: generous, and only ever an upper bound.
SLACK = 0.4


class PaySettings(HttpClientSettings):
    """Settings of the test payment API."""

    env_section = "PAY_API_"


class PayApi(ApiClient):
    """An API that deduplicates requests by Idempotency-Key."""

    name = "pay-api"
    idempotency_header = "Idempotency-Key"


class LegacyApi(ApiClient):
    """An API without idempotency keys."""

    name = "legacy-api"


def _settings(url: str, **overrides: Any) -> PaySettings:
    return PaySettings(base_url=url, **{**FAST, **overrides})


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[UpstreamServer]:
    async with UpstreamServer() as server:
        yield server


def _gaps(server: UpstreamServer) -> list[float]:
    times = [request.at for request in server.requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.mark.parametrize("draw", [0.0, 0.5, 1.0], ids=["low", "middle", "high"])
async def test_retry_delays_follow_exponential_full_jitter(
    server: UpstreamServer,
    draw: float,
) -> None:
    """The n-th wait is draw * min(cap, initial * 2**(n-1)): within the jitter's bounds."""
    server.script(*[Reply(503)] * 4, Reply.json({}))
    settings = _settings(server.url, retry_attempts=5, retry_backoff_initial=0.1,
                         retry_backoff_max=0.3)  # fmt: skip
    async with PayApi(settings) as api:
        api._backoff = Backoff(0.1, 0.3, random=lambda: draw)
        await api.request("GET", "/charges")
    bounds = [0.1, 0.2, 0.3, 0.3]
    for gap, bound in zip(_gaps(server), bounds, strict=True):
        assert draw * bound - 0.01 <= gap < draw * bound + SLACK


async def test_retry_delays_with_real_jitter_stay_under_their_bound(
    server: UpstreamServer,
) -> None:
    """With real randomness every wait stays under its exponential bound."""
    server.script(*[Reply(503)] * 4, Reply.json({}))
    settings = _settings(server.url, retry_attempts=5, retry_backoff_initial=0.1,
                         retry_backoff_max=0.3)  # fmt: skip
    async with PayApi(settings) as api:
        await api.request("GET", "/charges")
    for gap, bound in zip(_gaps(server), [0.1, 0.2, 0.3, 0.3], strict=True):
        assert 0 <= gap < bound + SLACK


@pytest.mark.parametrize("header", ["0.4", "date"], ids=["seconds", "http-date"])
async def test_429_retry_after_is_honoured(server: UpstreamServer, header: str) -> None:
    """After a 429 the next attempt waits Retry-After, given in seconds or as an HTTP-date."""
    date = time.time() + 2  # an HTTP-date has whole seconds: 1-2 s from now
    value = formatdate(date, usegmt=True) if header == "date" else header
    server.script(Reply(429, headers={"retry-after": value}), Reply.json({"paid": True}))
    async with PayApi(_settings(server.url)) as api:
        assert await api.request_json("GET", "/charges/{id}", path={"id": 1}) == {"paid": True}
    (gap,) = _gaps(server)
    if header == "date":  # measured on the clock the date is on, not from the 429's arrival
        assert time.time() >= int(date) - 0.01
    else:
        assert gap >= 0.4 - 0.01
    assert gap < 2.0 + SLACK


async def test_retry_after_beyond_the_cap_fails_at_once(server: UpstreamServer) -> None:
    """A Retry-After longer than the cap is not waited for: RateLimitedError with retry_after."""
    server.script(Reply(429, headers={"retry-after": "20"}))
    async with PayApi(_settings(server.url, retry_after_max=2.0)) as api:
        with pytest.raises(RateLimitedError) as info:
            await api.request("GET", "/charges")
    assert (info.value.retry_after, info.value.attempts, info.value.status) == (20.0, 1, 429)


async def test_a_429_slows_the_whole_adapter(server: UpstreamServer) -> None:
    """A 429 on one call holds the adapter's next calls back for its Retry-After."""
    server.script(Reply(429, headers={"retry-after": "0.5"}))
    wait = REGISTRY.get_sample_value(
        "svcinfra_http_client_rate_limit_wait_seconds_count", {"adapter": "legacy-api"},
    ) or 0.0  # fmt: skip
    async with LegacyApi(_settings(server.url)) as api:
        with pytest.raises(RateLimitedError):
            await api.request("POST", "/charges", json={})
        await api.request("GET", "/charges")
    (gap,) = _gaps(server)
    assert 0.45 <= gap < 0.5 + SLACK
    after = REGISTRY.get_sample_value(
        "svcinfra_http_client_rate_limit_wait_seconds_count", {"adapter": "legacy-api"},
    )  # fmt: skip
    assert after == wait + 1


async def test_an_empty_quota_pauses_until_its_reset(server: UpstreamServer) -> None:
    """A success saying no request is left until the reset holds the next call back until then."""
    server.script(Reply.json({}, ratelimit_remaining="0", ratelimit_reset="1"))
    async with PayApi(_settings(server.url)) as api:
        await api.request("GET", "/charges")
        await api.request("GET", "/charges")
    (gap,) = _gaps(server)
    assert 0.9 <= gap < 1.0 + SLACK


async def test_a_pause_beyond_the_deadline_fails_fast(server: UpstreamServer) -> None:
    """When the API's pause outlasts a call's deadline, the call fails at once, unsent."""
    server.script(Reply(429, headers={"retry-after": "3"}))
    async with LegacyApi(_settings(server.url)) as api:
        with pytest.raises(RateLimitedError):
            await api.request("POST", "/charges", json={})
        with pytest.raises(RateLimitedError) as info:
            await api.request("GET", "/charges", deadline=1.0)
    assert info.value.reason == "rate_limited"
    assert len(server.requests) == 1


async def test_client_side_rate_limit_spaces_calls(server: UpstreamServer) -> None:
    """With RATE_LIMIT 5 per 0.5 s, ten calls cannot all go out inside the first period."""
    async with PayApi(_settings(server.url, rate_limit=5, rate_period=0.5)) as api:
        started = asyncio.get_running_loop().time()  # the server's clock: it runs on this loop
        await asyncio.gather(*(api.request("GET", "/charges") for _ in range(10)))
    # From the calls' start, not the first arrival: a slow first connection must not hide it.
    assert max(request.at for request in server.requests) - started >= 0.4


async def test_idempotency_key_is_stable_across_attempts(server: UpstreamServer) -> None:
    """One logical POST sends one generated key on every attempt; the next call gets a new one."""
    server.script(Reply(503), Reply(503), Reply.json({"id": "ch_1"}, status=201))
    async with PayApi(_settings(server.url)) as api:
        await api.request("POST", "/charges", json={"amount": 5})
        await api.request("POST", "/charges", json={"amount": 5})
    keys = [request.headers.get("idempotency-key") for request in server.requests]
    assert len(keys) == 4
    assert keys[0]
    assert keys[0] == keys[1] == keys[2]
    assert keys[3]
    assert keys[3] != keys[0]


async def test_callers_idempotency_key_is_sent_verbatim(server: UpstreamServer) -> None:
    """A key derived by the caller (from a message id) is the one sent, on every attempt."""
    server.script(Reply(502), Reply.json({}, status=201))
    async with PayApi(_settings(server.url)) as api:
        await api.request("POST", "/charges", json={}, idempotency_key="msg-123")
    assert [r.headers["idempotency-key"] for r in server.requests] == ["msg-123", "msg-123"]


async def test_post_without_a_key_is_not_retried(server: UpstreamServer) -> None:
    """For an API without idempotency keys, a POST answered 503 is sent exactly once."""
    server.default = Reply(503)
    async with LegacyApi(_settings(server.url)) as api:
        with pytest.raises(TemporaryError) as info:
            await api.request("POST", "/charges", json={})
    assert (info.value.attempts, len(server.requests)) == (1, 1)
    assert "idempotency-key" not in server.requests[0].headers


@pytest.mark.parametrize(
    ("adapter", "method", "sent"),
    [(LegacyApi, "GET", 3), (LegacyApi, "POST", 1), (PayApi, "POST", 3)],
    ids=["get", "post-without-key", "post-with-key"],
)
async def test_500_is_retried_only_when_idempotent(
    server: UpstreamServer,
    adapter: type[ApiClient],
    method: str,
    sent: int,
) -> None:
    """A 500 may hide a half-done effect: retried for a GET or a keyed POST, never a bare POST."""
    server.default = Reply(500)
    async with adapter(_settings(server.url)) as api:
        with pytest.raises(TemporaryError):
            await api.request(method, "/charges")
    assert sent == len(server.requests)


async def test_marking_a_post_idempotent_allows_retries(server: UpstreamServer) -> None:
    """A POST the caller declares idempotent (a search) is retried without a key."""
    server.script(Reply(503), Reply.json({"hits": []}))
    async with LegacyApi(_settings(server.url)) as api:
        data = await api.request_json("POST", "/search", json={"q": "x"}, idempotent=True)
    assert data == {"hits": []}
