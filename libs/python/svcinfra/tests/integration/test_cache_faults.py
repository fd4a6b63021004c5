"""Redis is not the source of truth (RD-1): stopped, hung or killed, the loader serves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import cache_values_pb2 as pb
import pytest
from structlog.testing import capture_logs

from svcinfra.cache import (
    BreakerState,
    Cache,
    CacheClient,
    Failed,
    InvalidationNotices,
    KeyNamespace,
    create_cache_client,
)
from svcinfra.config import RedisSettings
from svcinfra.testing import FaultProxy, metric_value, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.redis

GENERATED = Path(__file__).parents[1] / "assets" / "proto" / "generated"
COOLDOWN = 0.3


@pytest.fixture(name="proxy")
async def _proxy(redis_server: str) -> AsyncIterator[FaultProxy]:
    url = urlsplit(redis_server)
    async with FaultProxy(url.hostname or "127.0.0.1", url.port or 6379) as proxy:
        yield proxy
        proxy.unstall()


@pytest.fixture(name="client")
async def _client(proxy: FaultProxy, redis_namespace: str) -> AsyncIterator[CacheClient]:
    settings = RedisSettings(
        host=proxy.host,
        port=proxy.port,
        socket_timeout=0.1,
        connect_timeout=0.1,
        breaker_failures=3,
        breaker_cooldown=COOLDOWN,
    )
    client = create_cache_client(settings, name=redis_namespace)
    yield client
    await client.aclose()
    direct = create_cache_client(RedisSettings(host="127.0.0.1"), name=f"{redis_namespace}-cleanup")
    keys = [key async for key in direct.redis.scan_iter(match=f"{redis_namespace}*", count=1000)]
    if keys:
        await direct.redis.delete(*keys)
    await direct.aclose()


@pytest.fixture(name="ns")
def _ns(redis_namespace: str) -> KeyNamespace:
    return KeyNamespace(redis_namespace, "profile")


class Loader:
    """The source of truth: returns profile `id_` and counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, id_: int):
        async def load() -> object:
            self.calls += 1
            return pb.UserProfile(id=id_, name=f"user {id_}")

        return load


async def test_redis_stopped_mid_run_then_back(
    client: CacheClient, proxy: FaultProxy, ns: KeyNamespace
) -> None:
    """All requests succeed with Redis down; the breaker opens; Redis back, hits resume."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    loader = Loader()
    for i in range(20):
        assert (await cache.get_or_load(i, loader(i))).id == i
    assert loader.calls == 20

    await proxy.refuse()
    proxy.reset_all()
    for round_ in range(3):
        results = await asyncio.gather(*(cache.get_or_load(i, loader(i)) for i in range(20)))
        assert [r.id for r in results] == list(range(20)), round_
    assert client.breaker.state is BreakerState.OPEN
    assert metric_value("svcinfra_cache_lookups_total", namespace=ns.name, result="skipped") > 0
    assert metric_value("svcinfra_cache_breaker_opened_total", client=client.name) == 1

    await proxy.accept()
    await asyncio.sleep(COOLDOWN)
    calls_before = loader.calls
    for _ in range(3):  # the first may be the half-open probe
        await cache.get_or_load(0, loader(0))
    results = await asyncio.gather(*(cache.get_or_load(i, loader(i)) for i in range(20)))

    assert [r.id for r in results] == list(range(20))
    assert client.breaker.state is BreakerState.CLOSED
    assert loader.calls == calls_before  # served from Redis again


async def test_open_breaker_adds_no_redis_round_trip(
    client: CacheClient, proxy: FaultProxy, ns: KeyNamespace
) -> None:
    """Redis hung: a few calls time out and open the breaker; then no call touches the socket."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    loader = Loader()
    await cache.get_or_load(1, loader(1))
    proxy.stall()

    for i in range(3):
        assert (await cache.get_or_load(i, loader(i))).id == i
    assert client.breaker.state is BreakerState.OPEN
    accepted, errors = (
        proxy.accepted,
        metric_value("svcinfra_cache_errors_total", namespace=ns.name, operation="get"),
    )
    for i in range(200):
        assert (await cache.get_or_load(i, loader(i))).id == i

    assert proxy.accepted == accepted  # no new connection attempt
    assert metric_value("svcinfra_cache_errors_total", namespace=ns.name, operation="get") == errors
    assert client.pool_stats()[0] == 0  # nothing waits on the hung server


@pytest.mark.parametrize(
    "server_back", [True, False], ids=["server-up-retry-hits", "server-gone-loader"]
)
async def test_connection_killed_mid_operation(
    client: CacheClient, proxy: FaultProxy, ns: KeyNamespace, *, server_back: bool
) -> None:
    """A read reset mid-flight is retried on a new connection, else the loader serves it."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    loader = Loader()
    await cache.get_or_load(1, loader(1))
    proxy.stall()
    request = asyncio.create_task(cache.get_or_load(1, loader(1)))
    await until(lambda: proxy.open_connections and client.pool_stats()[0])

    if not server_back:
        await proxy.refuse()
    proxy.reset_all()
    proxy.unstall()

    assert (await request).id == 1
    assert loader.calls == (1 if server_back else 2)
    assert metric_value("svcinfra_cache_errors_total", namespace=ns.name, operation="get") == (
        0 if server_back else 1
    )


async def test_timeouts_are_logged_once_per_interval(
    client: CacheClient, proxy: FaultProxy, ns: KeyNamespace
) -> None:
    """A hung Redis gives errors counted by namespace and one 'degraded' line without keys."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    proxy.stall()

    with capture_logs() as logs:
        for i in range(3):
            await cache.set(i, pb.UserProfile(id=i))
            await cache.get(i)

    degraded = [entry for entry in logs if entry["event"].startswith("cache degraded")]
    assert len(degraded) == 1
    assert degraded[0]["rule"] == "RD-1"
    assert metric_value("svcinfra_cache_errors_total", namespace=ns.name, operation="set") >= 1
    assert f"{ns.name}:" not in str(degraded)  # never a key


async def test_lock_unavailable_falls_back_to_loading(
    client: CacheClient, proxy: FaultProxy, ns: KeyNamespace
) -> None:
    """With Redis refusing, a cold get_or_load with the lock on still loads, once per process."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60, lock=True)
    loader = Loader()
    await proxy.refuse()

    results = await asyncio.gather(*(cache.get_or_load(5, loader(5)) for _ in range(50)))

    assert {r.id for r in results} == {5}
    assert loader.calls == 1


async def test_ping_reports_a_stopped_server(client: CacheClient, proxy: FaultProxy) -> None:
    """The readiness ping is False while Redis refuses and True once it is back."""
    assert await client.ping(timeout=1.0)
    await proxy.refuse()
    proxy.reset_all()

    assert not await client.ping(timeout=0.5)

    await proxy.accept()
    assert await client.ping(timeout=1.0)


async def test_ping_times_out_on_a_hung_server(client: CacheClient, proxy: FaultProxy) -> None:
    """A hung Redis fails the ping within its budget instead of hanging the probe."""
    assert await client.ping(timeout=1.0)
    proxy.stall()

    assert not await client.ping(timeout=0.05)


async def test_pool_exhaustion_is_absorbed_without_opening_the_breaker(
    proxy: FaultProxy, redis_namespace: str, ns: KeyNamespace
) -> None:
    """A write burst beyond a one-connection pool drops some writes but never opens the breaker."""
    settings = RedisSettings(
        host=proxy.host, port=proxy.port, max_connections=1, pool_timeout=0.001, breaker_failures=1
    )
    client = create_cache_client(settings, name=f"{redis_namespace}-tiny")
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    proxy.latency = 0.01  # each write holds the only connection for a while

    written = await asyncio.gather(*(cache.set(i, pb.UserProfile(id=i)) for i in range(50)))
    await client.aclose()

    assert True in written
    assert False in written
    assert client.breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize("down", [0.0, 0.5], ids=["reset", "reset-and-down-for-a-while"])
async def test_notices_resubscribe_after_a_killed_connection(
    client: CacheClient, proxy: FaultProxy, ns: KeyNamespace, down: float
) -> None:
    """A reset subscription reports the gap, resubscribes and receives again."""
    notices = InvalidationNotices(client, ns)
    subscribed = asyncio.Event()
    gaps: list[bool] = []
    received: list[str] = []

    async def listen() -> None:
        async for id_ in notices.listen(on_gap=lambda: gaps.append(True), subscribed=subscribed):
            received.append(id_)
            if len(received) == 2:
                return

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(subscribed.wait(), 5)
    assert await notices.publish(1) == 1
    await until(lambda: received)

    subscribed.clear()
    if down:
        await proxy.refuse()
    proxy.reset_all()
    if down:
        await asyncio.sleep(down)
        await proxy.accept()
    await asyncio.wait_for(subscribed.wait(), 10)
    assert await notices.publish(2) == 1
    await asyncio.wait_for(listener, 5)

    assert received == ["1", "2"]
    assert gaps == [True]


async def open_breaker(client: CacheClient, proxy: FaultProxy) -> None:
    """Refuse connections until three failed calls open the breaker, then accept again."""
    await proxy.refuse()
    proxy.reset_all()
    for _ in range(3):
        assert isinstance(await client.run("get", lambda: client.redis.get("x")), Failed)
    assert client.breaker.state is BreakerState.OPEN
    await proxy.accept()


async def test_a_readiness_ping_does_not_close_the_breaker(
    client: CacheClient, proxy: FaultProxy
) -> None:
    """Redis answers PING again, but only the half-open probe of a real call closes it (RD-1)."""
    await open_breaker(client, proxy)

    assert await client.ping(timeout=1.0)
    assert client.breaker.state is BreakerState.OPEN
    await asyncio.sleep(COOLDOWN)
    assert await client.ping(timeout=1.0)
    assert client.breaker.state is BreakerState.OPEN  # not half-open either: no probe yet

    assert await client.run("get", lambda: client.redis.get("x")) is None
    assert client.breaker.state is BreakerState.CLOSED


async def test_half_open_admits_exactly_one_probe(client: CacheClient, proxy: FaultProxy) -> None:
    """Twenty callers after the cooldown: one reaches Redis, the others skip it until it answers."""
    await open_breaker(client, proxy)
    await asyncio.sleep(COOLDOWN)
    proxy.latency = 0.02  # the probe stays in flight while the others arrive
    reached = 0

    async def call() -> bytes | None:
        nonlocal reached
        reached += 1
        return cast("bytes | None", await client.redis.get("x"))

    results = await asyncio.gather(*(client.run("get", call) for _ in range(20)))

    assert reached == 1
    assert results.count(None) == 1  # the probe's answer: no such key
    assert sum(isinstance(r, Failed) for r in results) == 19  # skipped
    assert client.breaker.state is BreakerState.CLOSED


async def test_a_late_success_of_a_call_from_before_the_opening_does_not_close_it(
    client: CacheClient, proxy: FaultProxy
) -> None:
    """A call admitted while closed answers after the breaker opened: the breaker stays open."""
    assert await client.run("get", lambda: client.redis.get("x")) is None  # a connection
    gate = asyncio.Event()

    async def slow() -> bool:
        await gate.wait()
        return bool(await client.redis.ping())

    started = asyncio.create_task(client.run("ping", slow))
    await asyncio.sleep(0)
    await open_breaker(client, proxy)
    gate.set()

    assert await started is True  # Redis answered it
    assert client.breaker.state is BreakerState.OPEN


async def test_the_dirty_set_is_empty_once_the_loads_end(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """Keys deleted while their load ran are not written, and not remembered after it ended."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60, lock=False)
    gate = asyncio.Event()

    def loader(id_: int):
        async def load() -> pb.UserProfile:
            await gate.wait()
            return pb.UserProfile(id=id_)

        return load

    loads = [asyncio.create_task(cache.get_or_load(i, loader(i))) for i in range(300)]
    await until(lambda: len(cache._flights) == 300)
    assert await cache.delete(*range(300))
    assert len(cache._dirty) == 300
    gate.set()
    assert [v.id for v in await asyncio.gather(*loads)] == list(range(300))

    assert cache._dirty == set()
    assert await cache.get_many(range(300)) == {}  # the values that predate the delete: dropped
