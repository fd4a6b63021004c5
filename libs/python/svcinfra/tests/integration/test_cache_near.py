"""The near cache (issue 19): an in-process layer kept correct by Redis client tracking.

Two processes share the shared Redis under a key domain of their own: what one writes or
deletes, the other stops serving once the invalidation arrives (the window is measured and
printed, not asserted). A killed tracking connection, a stalled one, an unreachable Redis and a
restarted Redis (a private one) each flush the layer, and it serves nothing while it cannot hear
invalidations. RD-1 (fail open), RD-2 (TTL), RD-5 (singleflight) hold with it on.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import cache_values_pb2 as pb
import pytest

from svcinfra.cache import Cache, CacheClient, KeyNamespace, NearCache, create_cache_client
from svcinfra.config import RedisSettings
from svcinfra.testing import (
    FaultProxy,
    PrivateRedis,
    ServerTls,
    TestCA,
    free_port,
    metric_value,
    until,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

pytestmark = pytest.mark.redis

PEER = Path(__file__).with_name("near_peer.py")
WRITES = 120  # CI-sized: about 3 s in all
SEEN_WITHIN = 10.0  # a lost invalidation would leave the old value for the whole 300 s TTL


def near_events(namespace: KeyNamespace, event: str) -> float:
    return metric_value("svcinfra_cache_near_total", namespace=namespace.name, event=event)


def profile(id_: int, name: str) -> pb.UserProfile:
    return pb.UserProfile(id=id_, name=name)


async def _cleanup(redis_namespace: str) -> None:
    direct = create_cache_client(RedisSettings(host="127.0.0.1"), name=f"{redis_namespace}-clean")
    keys = [key async for key in direct.redis.scan_iter(match=f"{redis_namespace}*", count=1000)]
    if keys:
        await direct.redis.delete(*keys)
    await direct.aclose()


@pytest.fixture(name="client")
async def _client(redis_server: str, redis_namespace: str) -> AsyncIterator[CacheClient]:
    url = urlsplit(redis_server)
    settings = RedisSettings(host=url.hostname or "127.0.0.1", port=url.port or 6379)
    client = create_cache_client(settings, name=redis_namespace)
    yield client
    await client.aclose()
    await _cleanup(redis_namespace)


@pytest.fixture(name="ns")
def _ns(redis_namespace: str) -> KeyNamespace:
    return KeyNamespace(redis_namespace, "profile")


async def near_cache(
    client: CacheClient, ns: KeyNamespace, **options: float
) -> Cache[pb.UserProfile]:
    cache = Cache(client, ns, pb.UserProfile, ttl=300, near=NearCache(**options))  # type: ignore[arg-type]
    assert cache.near is not None
    assert await cache.near.wait_live(5), "the tracking connection did not come up"
    return cache


async def fill(cache: Cache[pb.UserProfile], id_: int) -> pb.UserProfile | None:
    """Read `id_` until the near layer keeps it.

    A read from Redis fills the layer, but the push of this process's own write may arrive
    after that and drop the entry again: read until it stays.
    """
    assert cache.near is not None
    async with asyncio.timeout(2):
        while True:
            value = await cache.get(id_)
            if cache.namespace.key(id_) in cache.near:
                return value
            await asyncio.sleep(0.005)


class Peer:
    """The other process: `near_peer.py` reading one id through its own near cache."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ready: dict[str, object] = {}
        self.reconnected: list[dict[str, object]] = []

    @classmethod
    async def start(cls, host: str, port: int, domain: str, id_: int, mode: str = "get") -> Peer:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PEER),
            host,
            str(port),
            domain,
            str(id_),
            mode,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        peer = cls(process)
        peer.ready = await peer.line(timeout=20)
        assert peer.ready.get("ready") is True, peer.ready
        return peer

    async def line(self, *, timeout: float) -> dict[str, object]:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            raw = await self.process.stdout.readline()
        if not raw:
            raise AssertionError(f"the peer exited with {await self.process.wait()}")
        return dict(json.loads(raw))

    async def seen(self, name: str | None) -> float:
        """Wait until the peer reports reading `name`; return when it did (monotonic)."""
        while True:
            line = await self.line(timeout=SEEN_WITHIN)
            if "reconnected" in line:
                self.reconnected.append(line)
            elif line["seen"] == name:
                return float(str(line["t"]))

    async def stop(self) -> dict[str, float]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            while "near" not in (line := await self.line(timeout=10)):
                pass
        finally:
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()  # our own child; its stderr shows where it hung
                raise
        return dict(line["near"])  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["get", "view"])
async def test_a_write_or_delete_in_one_process_invalidates_the_other(
    client: CacheClient, ns: KeyNamespace, redis_server: str, mode: str
) -> None:
    """`view`: the peer reads through `near_view` first (a view memoised with the entry)."""
    url = urlsplit(redis_server)
    writer = await near_cache(client, ns)
    peer = await Peer.start(url.hostname or "127.0.0.1", url.port or 6379, ns.domain, 7, mode)
    windows: list[float] = []
    try:
        assert await peer.seen(None)  # absent at first
        for version in range(WRITES):
            if version % 4 == 3:
                await writer.delete(7)
                acked, expected = time.monotonic(), None
            else:
                await writer.set(7, profile(7, f"v{version}"))
                acked, expected = time.monotonic(), f"v{version}"
            seen = await peer.seen(expected)  # fails if the peer kept serving the old value
            windows.append(seen - acked)
            await asyncio.sleep(0.02)  # the peer reads it again: from its near layer now
    finally:
        counters = await peer.stop()
    assert counters["hit"] > WRITES  # the peer served from its near layer in between
    assert counters["invalidated"] > 0  # and Redis's pushes dropped its entries
    windows.sort()
    p99 = windows[min(len(windows) - 1, round(0.99 * (len(windows) - 1)))]
    print(  # noqa: T201  (the measured bound; no timing assertion on a shared machine)
        f"\nnear cache staleness window over {len(windows)} writes/deletes (write acked -> peer"
        f" reads the new value, 1 ms polling): p50 {statistics.median(windows) * 1000:.2f} ms,"
        f" p99 {p99 * 1000:.2f} ms, max {windows[-1] * 1000:.2f} ms"
    )


async def test_a_killed_tracking_connection_flushes_the_layer(
    client: CacheClient, ns: KeyNamespace
) -> None:
    cache = await near_cache(client, ns)
    assert cache.near is not None
    await cache.set(1, profile(1, "old"))
    await fill(cache, 1)
    flushes = near_events(ns, "flush")
    killed = cache.near.connection_id
    assert killed is not None
    # Only our own tracking connection, by its id.
    assert await client.redis.execute_command("CLIENT", "KILL", "ID", killed) == 1
    await until(lambda: cache.near.connection_id not in (None, killed), timeout=5)  # type: ignore[union-attr]
    assert len(cache.near) == 0  # nothing invalidated the entry: only the flush dropped it
    assert near_events(ns, "flush") > flushes


async def test_a_killed_tracking_connection_flushes_the_other_process(
    client: CacheClient, ns: KeyNamespace, redis_server: str
) -> None:
    url = urlsplit(redis_server)
    writer = await near_cache(client, ns)
    peer = await Peer.start(url.hostname or "127.0.0.1", url.port or 6379, ns.domain, 7)
    try:
        await writer.set(7, profile(7, "old"))
        await peer.seen("old")
        await asyncio.sleep(0.05)  # kept in the peer's near layer by now
        killed = peer.ready["connection_id"]
        assert await client.redis.execute_command("CLIENT", "KILL", "ID", killed) == 1
        await writer.set(7, profile(7, "new"))
        await peer.seen("new")
    finally:
        counters = await peer.stop()
    assert counters["flush"] >= 1
    assert counters["hit"] > 0


async def test_writes_while_tracking_is_down_are_never_served_stale(
    redis_server: str, redis_namespace: str, ns: KeyNamespace
) -> None:
    """Redis unreachable: the layer stops serving (fail open, RD-1); back, it starts empty."""
    url = urlsplit(redis_server)
    async with FaultProxy(url.hostname or "127.0.0.1", url.port or 6379) as proxy:
        settings = RedisSettings(
            host=proxy.host,
            port=proxy.port,
            socket_timeout=0.2,
            connect_timeout=0.2,
            breaker_failures=1000,
        )
        client = create_cache_client(settings, name=redis_namespace)
        direct = create_cache_client(RedisSettings(host="127.0.0.1"), name=f"{redis_namespace}-d")
        try:
            cache = await near_cache(client, ns)
            assert cache.near is not None
            await cache.set(1, profile(1, "old"))
            assert await fill(cache, 1) == profile(1, "old")
            await proxy.refuse()
            proxy.reset_all()
            await until(lambda: not cache.near.live, timeout=5)  # type: ignore[union-attr]
            assert len(cache.near) == 0
            # Written where this process cannot hear about it: no invalidation will come.
            await direct.redis.set(ns.key(1), profile(1, "new").SerializeToString(), px=300_000)
            loads = 0

            async def load() -> pb.UserProfile:
                nonlocal loads
                loads += 1
                return profile(1, "from the database")

            # Fail open as without the layer: a miss, the loader's value, no exception.
            assert await cache.get(1) is None
            assert await cache.get_or_load(1, load) == profile(1, "from the database")
            assert loads == 1
            await proxy.accept()
            assert await cache.near.wait_live(5)
            assert await cache.get(1) == profile(1, "new")
        finally:
            await client.aclose()
            await direct.aclose()
            await _cleanup(redis_namespace)


async def test_a_silent_tracking_connection_stops_the_layer_serving(
    redis_server: str, redis_namespace: str, ns: KeyNamespace
) -> None:
    url = urlsplit(redis_server)
    async with FaultProxy(url.hostname or "127.0.0.1", url.port or 6379) as proxy:
        client = create_cache_client(
            RedisSettings(host=proxy.host, port=proxy.port), name=redis_namespace
        )
        try:
            cache = await near_cache(client, ns, heartbeat=0.05, max_silence=0.3)
            assert cache.near is not None
            await cache.set(1, profile(1, "old"))
            await fill(cache, 1)
            first = cache.near.connection_id
            proxy.stall()  # open, but nothing gets through: no pushes, no PONGs
            await until(lambda: not cache.near.live, timeout=5)  # type: ignore[union-attr]
            assert cache.near.get(ns.key(1)) is None  # silent: not served, even before the flush
            await until(lambda: len(cache.near) == 0, timeout=5)  # type: ignore[arg-type]
            proxy.unstall()
            assert await cache.near.wait_live(5)
            assert cache.near.connection_id != first
        finally:
            proxy.unstall()
            await client.aclose()
            await _cleanup(redis_namespace)


async def test_a_redis_restart_flushes_the_layer(ns: KeyNamespace) -> None:
    with PrivateRedis(free_port()) as server:
        client = create_cache_client(RedisSettings(host=server.host, port=server.port), name="r")
        try:
            cache = await near_cache(client, ns)
            assert cache.near is not None
            await cache.set(1, profile(1, "before"))
            await fill(cache, 1)
            run_id, flushes = cache.near.run_id, near_events(ns, "flush")
            server.restart()  # no persistence: it comes back empty, like a cache
            await until(lambda: cache.near.run_id != run_id and cache.near.live, timeout=10)  # type: ignore[union-attr]
            assert near_events(ns, "flush") > flushes
            # Nothing told this process that the value is gone: only the flush drops it.
            assert await cache.get(1) is None
            await client.redis.set(ns.key(1), profile(1, "after").SerializeToString(), px=300_000)
            assert await cache.get(1) == profile(1, "after")
        finally:
            await client.aclose()


async def test_a_redis_restart_flushes_the_other_process(ns: KeyNamespace) -> None:
    with PrivateRedis(free_port()) as server:
        client = create_cache_client(RedisSettings(host=server.host, port=server.port), name="w")
        try:
            writer = await near_cache(client, ns)
            peer = await Peer.start(server.host, server.port, ns.domain, 7)
            try:
                await writer.set(7, profile(7, "before"))
                await peer.seen("before")
                await asyncio.sleep(0.05)  # kept in the peer's near layer by now
                server.restart()  # comes back empty: no key was deleted, no push is sent
                await peer.seen(None)  # fails if the peer kept serving "before"
            finally:
                counters = await peer.stop()
            assert counters["flush"] >= 1
        finally:
            await client.aclose()


async def test_the_layer_is_bounded_least_recently_used_first(
    client: CacheClient, ns: KeyNamespace
) -> None:
    cache = await near_cache(client, ns, max_entries=3)
    assert cache.near is not None
    for id_ in range(1, 4):
        await cache.set(id_, profile(id_, "x"))
        await fill(cache, id_)
    await cache.get(1)  # 2 is now the least recently used
    evicted = near_events(ns, "evicted")
    await cache.set(4, profile(4, "x"))
    await fill(cache, 4)
    assert len(cache.near) == 3
    assert [ns.key(i) in cache.near for i in (1, 2, 3, 4)] == [True, False, True, True]
    assert near_events(ns, "evicted") == evicted + 1


async def test_an_entry_does_not_outlive_its_redis_ttl(
    client: CacheClient, ns: KeyNamespace
) -> None:
    cache = await near_cache(client, ns)
    assert cache.near is not None
    await client.redis.set(ns.key(1), profile(1, "short").SerializeToString(), px=400)
    started = time.monotonic()
    await fill(cache, 1)
    deadline = cache.near.deadline(ns.key(1))
    assert deadline is not None
    assert deadline <= started + 0.4
    await asyncio.sleep(max(0.0, deadline - time.monotonic()) + 0.01)
    assert cache.near.get(ns.key(1)) is None
    assert await cache.get(1) is None


async def test_singleflight_and_the_fill_lock_are_unchanged(
    client: CacheClient, ns: KeyNamespace
) -> None:
    cache = await near_cache(client, ns)
    loads = 0

    async def load() -> pb.UserProfile:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return profile(1, "loaded")

    results = await asyncio.gather(*(cache.get_or_load(1, load) for _ in range(200)))
    assert loads == 1
    assert all(r == profile(1, "loaded") for r in results)
    await fill(cache, 1)
    hits = near_events(ns, "hit")
    assert await cache.get_or_load(1, load) == profile(1, "loaded")
    assert loads == 1
    assert near_events(ns, "hit") == hits + 1


async def test_a_delete_in_this_process_is_read_at_once(
    client: CacheClient, ns: KeyNamespace
) -> None:
    cache = await near_cache(client, ns)
    await cache.set(1, profile(1, "old"))
    await fill(cache, 1)
    await cache.set(1, profile(1, "new"))
    assert await cache.get(1) == profile(1, "new")  # no wait for the push
    await fill(cache, 1)
    await cache.delete(1)
    assert await cache.get(1) is None


async def test_the_tracking_connection_uses_the_pools_tls(ns: KeyNamespace, tmp_path: Path) -> None:
    """With REDIS_TLS the tracking connection is a TlsConnection too (what prod runs, issue 17)."""
    ca = TestCA(tmp_path)
    issued = ca.issue("server", dns=("localhost",), ips=("127.0.0.1",))
    with PrivateRedis(free_port(), tls=ServerTls(issued.cert, issued.key, ca.cert)) as server:
        settings = RedisSettings.model_validate(
            {"host": server.host, "port": server.port, "tls": True, "ca_file": str(ca.cert)}
        )
        client = create_cache_client(settings, name="near-tls")
        other = create_cache_client(settings, name="near-tls-writer")
        try:
            cache = await near_cache(client, ns)
            await cache.set(1, profile(1, "old"))
            assert await fill(cache, 1) == profile(1, "old")
            await other.redis.set(ns.key(1), profile(1, "new").SerializeToString(), px=300_000)
            await until(lambda: ns.key(1) not in cache.near, timeout=5)  # type: ignore[operator]
            assert await cache.get(1) == profile(1, "new")
        finally:
            await client.aclose()
            await other.aclose()


def _name_view(calls: list[str]) -> Callable[[pb.UserProfile], bytes]:
    def view(value: pb.UserProfile) -> bytes:
        calls.append(value.name)
        return value.name.encode()

    return view


async def test_a_view_is_computed_once_per_kept_entry_and_dropped_with_it(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """`near_view` memoises a rendering in the entry: same object on every hit until it goes."""
    cache = await near_cache(client, ns)
    assert cache.near is not None
    calls: list[str] = []
    view = _name_view(calls)
    assert cache.near_view(1, view) is None  # not kept: nothing served, nothing computed
    await cache.set(1, profile(1, "old"))
    await fill(cache, 1)
    hits = metric_value("svcinfra_cache_lookups_total", namespace=ns.name, result="hit")
    first = cache.near_view(1, view)
    assert first == b"old"
    assert all(cache.near_view(1, view) is first for _ in range(10))
    assert calls == ["old"]
    assert (
        metric_value("svcinfra_cache_lookups_total", namespace=ns.name, result="hit") == hits + 11
    )
    other: list[str] = []  # another view replaces it (one view per entry)
    assert cache.near_view(1, _name_view(other)) == b"old"
    assert other == ["old"]
    # A write by another client: the push drops the entry, its view with it.
    direct = create_cache_client(RedisSettings(host="127.0.0.1"), name=f"{ns.domain}-w")
    try:
        await direct.redis.set(ns.key(1), profile(1, "new").SerializeToString(), ex=300)
        await until(lambda: ns.key(1) not in cache.near, timeout=SEEN_WITHIN)
    finally:
        await direct.aclose()
    assert cache.near_view(1, view) is None
    assert await fill(cache, 1) == profile(1, "new")
    assert cache.near_view(1, view) == b"new"
    assert calls == ["old", "new"]
    await cache.delete(1)  # this process's own delete: at once
    assert cache.near_view(1, view) is None


async def test_a_view_does_not_outlive_the_entrys_redis_ttl(
    client: CacheClient, ns: KeyNamespace
) -> None:
    cache = await near_cache(client, ns)
    assert cache.near is not None
    await client.redis.set(ns.key(1), profile(1, "short").SerializeToString(), px=400)
    await fill(cache, 1)
    deadline = cache.near.deadline(ns.key(1))
    assert deadline is not None
    assert cache.near_view(1, _name_view([])) == b"short"
    await asyncio.sleep(max(0.0, deadline - time.monotonic()) + 0.01)
    assert cache.near_view(1, _name_view([])) is None


async def test_no_view_is_served_while_tracking_is_down(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """A killed tracking connection flushes the views too; none is served until it is back."""
    cache = await near_cache(client, ns)
    assert cache.near is not None
    await cache.set(1, profile(1, "old"))
    await fill(cache, 1)
    assert cache.near_view(1, _name_view([])) == b"old"
    killed = cache.near.connection_id
    assert killed is not None
    assert await client.redis.execute_command("CLIENT", "KILL", "ID", killed) == 1
    await until(lambda: cache.near is not None and cache.near_view(1, _name_view([])) is None)
    assert len(cache.near) == 0


async def test_a_failing_view_is_not_memoised(client: CacheClient, ns: KeyNamespace) -> None:
    cache = await near_cache(client, ns)
    await cache.set(1, profile(1, "x"))
    await fill(cache, 1)

    def broken(value: pb.UserProfile) -> bytes:
        raise ValueError(value.name)

    with pytest.raises(ValueError, match="x"):
        cache.near_view(1, broken)
    assert cache.near_view(1, _name_view([])) == b"x"


async def test_no_view_with_early_refresh(client: CacheClient, ns: KeyNamespace) -> None:
    """With XFetch a hit may schedule a reload, which only `get_or_load` does: no view."""
    cache = Cache(client, ns, pb.UserProfile, ttl=300, near=NearCache(), early_refresh=1.0)  # type: ignore[arg-type]
    assert cache.near is not None
    assert await cache.near.wait_live(5)
    await cache.set(1, profile(1, "x"))
    await fill(cache, 1)
    assert cache.near_view(1, _name_view([])) is None
