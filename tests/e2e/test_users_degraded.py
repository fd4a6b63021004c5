"""The users API under its dependencies' failures: cache hits, Redis down, PostgreSQL down.

The outages are real TCP faults: a users API process started for the test talks to Redis or
PostgreSQL through a `FaultProxy`, which then refuses connections and resets the open ones, as
a stopped server would. The shared servers are never stopped.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from stack_kit import eventually, metrics, register, total

from svcinfra.testing import FaultProxy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    import httpx
    from devstack import Process, Stack

    StartProxied = Callable[[str, int, str], Awaitable[tuple[Process, FaultProxy]]]

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.rabbitmq]

GET_BY_ID = "users__get_by_id"


def lookups(samples: dict[str, float], result: str) -> float:
    return total(samples, "svcinfra_cache_lookups_total", result=result)


def queries(samples: dict[str, float], name: str) -> float:
    return total(samples, "svcinfra_db_query_duration_seconds_count", query=name)


@pytest.fixture
async def proxied_api(stack: Stack) -> AsyncIterator[StartProxied]:
    """Start a users API whose Redis or PostgreSQL is behind a proxy; stop both afterwards."""
    started: list[tuple[str, FaultProxy]] = []

    async def start(name: str, upstream_port: int, variable: str) -> tuple[Process, FaultProxy]:
        proxy = await FaultProxy("127.0.0.1", upstream_port).start()
        started.append((name, proxy))
        # Waiting for readiness blocks: in a thread, so this loop keeps the proxy forwarding.
        process = await asyncio.to_thread(
            stack.spawn, "users-api", name, env={variable: str(proxy.port)}
        )
        return process, proxy

    yield start
    for name, proxy in started:
        if name in stack.processes:
            await asyncio.to_thread(stack.discard, name)
        await proxy.close()


async def test_repeated_get_is_served_from_the_cache(stack: Stack, http: httpx.AsyncClient) -> None:
    """The second GET of a user is a cache hit: the hit counter moves, PostgreSQL is not asked."""
    user = await register(http, stack.users_api_url)
    url = f"{stack.users_api_url}/api/v1/users/{user['id']}"
    first = await http.get(url)
    assert first.status_code == 200
    tech_url = stack.process("users-api").tech_url
    before = await metrics(http, tech_url)

    second = await http.get(url)

    after = await metrics(http, tech_url)
    assert second.status_code == 200
    assert second.json() == first.json()
    assert lookups(after, "hit") == lookups(before, "hit") + 1
    assert queries(after, GET_BY_ID) == queries(before, GET_BY_ID)
    assert queries(before, GET_BY_ID) >= 1  # the metric exists: the first GET was a miss or a load


async def test_redis_down_the_api_still_answers_from_postgres(
    stack: Stack, http: httpx.AsyncClient, proxied_api: StartProxied
) -> None:
    """With Redis unreachable, GET still answers 200 with the user, loaded from PostgreSQL."""
    api, redis = await proxied_api("users-api-redis-cut", 6379, "USERS_REDIS_PORT")
    cached = await register(http, api.api_url)
    url = f"{api.api_url}/api/v1/users/{cached['id']}"
    assert (await http.get(url)).status_code == 200
    assert (await http.get(url)).status_code == 200  # now in Redis
    other = await register(http, stack.users_api_url)  # never read through this process

    await redis.refuse()
    redis.reset_all()

    for user in (cached, other):
        response = await http.get(f"{api.api_url}/api/v1/users/{user['id']}")
        assert response.status_code == 200, response.text
        assert response.json() == {**response.json(), **user}
    samples = await metrics(http, api.tech_url)
    assert lookups(samples, "error") + lookups(samples, "skipped") >= 1  # Redis really was down
    assert queries(samples, GET_BY_ID) >= 2
    assert await asyncio.to_thread(api.readyz) == 200  # the cache is not a critical dependency


async def test_postgres_down_503_with_retry_after_then_recovery_without_restart(
    http: httpx.AsyncClient, proxied_api: StartProxied
) -> None:
    """PostgreSQL unreachable: 503 + Retry-After and readyz 503; back to 201 once it returns."""
    api, postgres = await proxied_api("users-api-postgres-cut", 5432, "USERS_POSTGRES_PORT")
    await register(http, api.api_url)
    pid = api.pid

    await postgres.refuse()
    postgres.reset_all()

    async def try_register() -> httpx.Response:
        return await http.post(
            f"{api.api_url}/api/v1/users",
            json={"email": "down@example.com", "username": "pg_down", "display_name": "Down"},
        )

    refused = await eventually(try_register, lambda r: r.status_code == 503, "a 503")
    assert int(refused.headers["Retry-After"]) >= 1
    await eventually(lambda: asyncio.to_thread(api.readyz), lambda s: s == 503, "readyz 503")

    await postgres.accept()

    await eventually(lambda: asyncio.to_thread(api.readyz), lambda s: s == 200, "readyz 200")
    await register(http, api.api_url)
    assert api.running
    assert api.pid == pid
