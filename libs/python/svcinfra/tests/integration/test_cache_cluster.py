"""The cache on Redis Cluster (issue 20): three masters of a test's own (`PrivateRedisCluster`).

Reads batched into one tick span every master and many slots: they come back right and in
order, never as a `CROSSSLOT` (which would read as a failure, hence a loader call). The fill lock
and its script work per key; a master killed is absorbed as a single-node outage (RD-1), then
served again by its promoted replica, or by itself once restarted when it has none.
Each cluster takes about 8 s to form.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import cache_values_pb2 as pb
import pytest
from redis.crc import key_slot
from redis.exceptions import RedisClusterException

from svcinfra.cache import (
    BreakerState,
    Cache,
    CacheClient,
    Failed,
    InvalidationNotices,
    KeyNamespace,
    NearCache,
    create_cache_client,
)
from svcinfra.cache._errors import CacheError
from svcinfra.config import RedisSettings
from svcinfra.testing import PrivateRedisCluster, metric_value

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

COOLDOWN = 0.3


def _settings(
    cluster: PrivateRedisCluster, *, nodes: int = 2, timeout: float = 1.0
) -> RedisSettings:
    # Only the first nodes are given: the client finds the others in the slot map. The tests
    # without a kill allow 1 s per command (a loaded CI machine must not turn a slow answer into
    # a failed read, which they count as a CROSSSLOT); the kill tests 0.2 s.
    listed = ",".join(f"{host}:{port}" for host, port in cluster.addresses[:nodes])
    return RedisSettings(
        host="unused.invalid",  # never dialled with REDIS_CLUSTER_NODES
        cluster_nodes=listed,
        socket_timeout=timeout,
        connect_timeout=timeout,
        breaker_failures=3,
        breaker_cooldown=COOLDOWN,
    )


@pytest.fixture(name="cluster", scope="module")
def _cluster() -> Iterator[PrivateRedisCluster]:
    with PrivateRedisCluster() as cluster:
        yield cluster


@pytest.fixture(name="client")
async def _client(cluster: PrivateRedisCluster) -> AsyncIterator[CacheClient]:
    client = create_cache_client(_settings(cluster), name="cluster-a")
    yield client
    await client.aclose()


class Loader:
    """The source of truth: profile `id_` named `name`, counting its calls."""

    def __init__(self, name: str = "user", *, delay: float = 0.0) -> None:
        self.calls = 0
        self.name = name
        self.delay = delay

    def __call__(self, id_: int):
        async def load() -> pb.UserProfile:
            self.calls += 1
            await asyncio.sleep(self.delay)
            return pb.UserProfile(id=id_, name=f"{self.name} {id_}")

        return load


async def test_batched_reads_across_slots_come_back_in_order(
    cluster: PrivateRedisCluster, client: CacheClient, redis_namespace: str
) -> None:
    """200 gets of one tick: one batch over every master, each answer the right value."""
    cache = Cache(client, KeyNamespace(redis_namespace, "profile"), pb.UserProfile, ttl=60)
    ids = list(range(200))
    keys = [cache.namespace.key(i) for i in ids]
    masters = {cluster.master_of(key).port for key in keys}
    assert len(masters) == 3  # the batch spans every master
    assert len({key_slot(key.encode()) for key in keys}) > 150  # and many slots
    for i in ids:
        assert await cache.set(i, pb.UserProfile(id=i, name=f"stored {i}"))

    with pytest.raises(RedisClusterException, match="same key slot"):
        await client.redis.mget(keys)  # the control: a plain MGET of these keys is refused

    loader = Loader()
    results = await asyncio.gather(*(cache.get_or_load(i, loader(i)) for i in ids))

    assert [r.name for r in results] == [f"stored {i}" for i in ids]
    assert loader.calls == 0  # a CROSSSLOT would have been a failed read, then a load
    wanted = [*reversed(keys), f"{redis_namespace}:profile:absent"]
    raw = await client.mget(wanted, namespace=cache.namespace.name)
    assert raw == [await client.redis.get(key) for key in wanted]  # one GET each, compared
    assert isinstance(raw, list)
    assert raw[-1] is None
    assert None not in raw[:-1]
    many = await cache.get_many([*reversed(ids), 10_000])
    assert list(many) == list(reversed(ids))
    assert [m.name for m in many.values()] == [f"stored {i}" for i in reversed(ids)]
    assert metric_value("svcinfra_cache_errors_total", namespace=cache.namespace.name) == 0


async def test_delete_of_many_ids_across_slots(
    cluster: PrivateRedisCluster, client: CacheClient, redis_namespace: str
) -> None:
    """One `delete` of ids on every master removes their values, locks and negative entries."""
    ns = KeyNamespace(redis_namespace, "profile")
    cache = Cache(client, ns, pb.UserProfile, ttl=60, negative_ttl=30)
    ids = list(range(30))
    assert len({cluster.master_of(ns.key(i)).port for i in ids}) == 3
    for i in ids[:20]:
        assert await cache.set(i, pb.UserProfile(id=i, name="x"))

    async def none() -> None:
        return None

    for i in ids[20:]:
        assert await cache.get_or_load(i, none) is None  # a negative entry
    absent_keys = [ns.absent_key(i, same_slot=True) for i in ids]
    assert await client.redis.exists(*absent_keys) == 10
    assert await client.redis.exists(*(ns.key(i) for i in ids)) == 20

    assert await cache.delete(*ids)

    assert await client.redis.exists(*(ns.key(i) for i in ids)) == 0
    assert await client.redis.exists(*absent_keys) == 0
    assert metric_value("svcinfra_cache_errors_total", namespace=ns.name) == 0


async def test_the_fill_lock_works_per_key_on_a_cluster(
    cluster: PrivateRedisCluster, redis_namespace: str
) -> None:
    """Two processes, 20 callers each, one id per master: one load per id (RD-5)."""
    ns = KeyNamespace(redis_namespace, "profile")
    a_client = create_cache_client(_settings(cluster), name="cluster-lock-a")
    b_client = create_cache_client(_settings(cluster), name="cluster-lock-b")
    try:
        a = Cache(a_client, ns, pb.UserProfile, ttl=60, lock_lease=2.0)
        b = Cache(b_client, ns, pb.UserProfile, ttl=60, lock_lease=2.0)
        ids: list[int] = []
        seen: set[int] = set()
        for i in range(100):  # one id served by each master
            port = cluster.master_of(ns.key(i)).port
            if port not in seen:
                seen.add(port)
                ids.append(i)
        assert len(ids) == 3
        # the lock and negative entry share the value's slot; the value key is unchanged
        for i in ids:
            slot = key_slot(ns.key(i).encode())
            assert ns.key(i) == f"{redis_namespace}:profile:{i}"
            assert key_slot(ns.lock_key(i, same_slot=True).encode()) == slot
            assert key_slot(ns.absent_key(i, same_slot=True).encode()) == slot

        loader = Loader(delay=0.2)
        calls = [c.get_or_load(i, loader(i)) for i in ids for c in (a, b) for _ in range(20)]
        results = await asyncio.gather(*calls)

        assert {r.name for r in results} == {f"user {i}" for i in ids}
        assert loader.calls == len(ids)  # one loader per id across both processes
        for i in ids:  # the fill script released each lease and wrote the value
            assert await a_client.redis.exists(ns.lock_key(i, same_slot=True)) == 0
            assert await a_client.redis.get(ns.key(i)) is not None
        assert metric_value("svcinfra_cache_errors_total", namespace=ns.name) == 0
    finally:
        await a_client.aclose()
        await b_client.aclose()


async def test_the_near_cache_is_refused_on_a_cluster(client: CacheClient) -> None:
    """CLIENT TRACKING would need a connection per node: refused with what to do instead."""
    with pytest.raises(CacheError, match="not supported on Redis Cluster"):
        Cache(client, KeyNamespace("t", "near"), pb.UserProfile, ttl=60, near=NearCache())


async def test_invalidation_notices_reach_a_subscriber_on_a_cluster(
    client: CacheClient, redis_namespace: str
) -> None:
    """Pub/Sub hints (RD-6) through redis-py's cluster pubsub: a published id arrives."""
    notices = InvalidationNotices(client, KeyNamespace(redis_namespace, "profile"))
    subscribed = asyncio.Event()
    received: list[str] = []

    async def listen() -> None:
        async for id_ in notices.listen(subscribed=subscribed):
            received.append(id_)
            return

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(subscribed.wait(), 5)
    published = await notices.publish(2)
    await asyncio.wait_for(listener, 5)

    assert received == ["2"]
    assert published is not None  # a count of the node it went through (not cluster-wide)


async def test_pool_stats_and_key_counts_cover_every_node(
    cluster: PrivateRedisCluster, client: CacheClient, redis_namespace: str
) -> None:
    """RD-7 on a cluster: the pools of every node, the keys of every master."""
    ns = KeyNamespace(redis_namespace, "count")
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    for i in range(50):
        assert await cache.set(i, pb.UserProfile(id=i))

    counts = await client.sample_key_counts([ns])

    assert counts == {ns.name: 50}
    # INFO keyspace summed over the three masters: at least this test's keys
    assert metric_value("svcinfra_cache_db_keys", client=client.name, db="db0") >= 50
    in_use, idle, most = client.pool_stats()
    assert in_use == 0
    assert idle >= 3  # at least one connection to each master
    assert most == 50 * len(cluster.nodes)


async def test_a_full_node_pool_is_a_miss_that_leaves_the_breaker_closed(
    cluster: PrivateRedisCluster, redis_namespace: str
) -> None:
    """One connection per node and 60 concurrent lock attempts: a node's pool does not wait
    (MaxConnectionsError); those calls fail open, and a local burst does not open the breaker.
    """
    settings = _settings(cluster).model_copy(update={"max_connections": 1})
    client = create_cache_client(settings, name="cluster-tiny-pool")
    try:
        assert await client.ping()  # the slot map is read
        results = await asyncio.gather(
            *(
                client.lock(f"{redis_namespace}:burst:{i}", "t", 5000, namespace="burst")
                for i in range(60)
            )
        )
        assert any(
            isinstance(r, Failed) and not r.skipped for r in results
        )  # the burst outran the pools
        assert any(r is True for r in results)
        assert client.breaker.state is BreakerState.CLOSED
    finally:
        await client.aclose()


async def _serve_until_hits(
    cache: Cache[pb.UserProfile], loader: Loader, ids: list[int], *, within: float
) -> int:
    """Get `ids` in rounds until a round is all hits; return how many rounds needed a load."""
    started = time.monotonic()
    fell_open = 0
    while True:
        before = loader.calls
        results = await asyncio.gather(*(cache.get_or_load(i, loader(i)) for i in ids))
        assert [r.id for r in results] == ids  # never an error
        if loader.calls == before:
            return fell_open
        fell_open += 1
        assert time.monotonic() - started < within, f"no recovery within {within} s"
        await asyncio.sleep(0.05)


async def test_a_killed_master_fails_open_then_its_replica_serves(redis_namespace: str) -> None:
    """With a replica per master: the kill is absorbed, then the promoted replica serves."""
    with PrivateRedisCluster(replicas=1) as cluster:
        client = create_cache_client(
            _settings(cluster, nodes=6, timeout=0.2), name="cluster-failover"
        )
        try:
            cache = Cache(client, KeyNamespace(redis_namespace, "profile"), pb.UserProfile, ttl=60)
            loader = Loader()
            ids = list(range(30))
            await _serve_until_hits(cache, loader, ids, within=10)
            opened = metric_value("svcinfra_cache_breaker_opened_total", client=client.name)

            started = time.monotonic()
            killed = cluster.kill_master_of(cache.namespace.key(0))
            fell_open = await _serve_until_hits(cache, loader, ids, within=30)
            print(  # noqa: T201
                f"\ncluster failover: cache hits again {time.monotonic() - started:.2f} s "
                "after the kill -9 of a master"
            )

            assert fell_open > 0  # there was an outage, absorbed by the loader
            assert cluster.master_of(cache.namespace.key(0)).port != killed.port
            assert metric_value("svcinfra_cache_breaker_opened_total", client=client.name) > opened
            assert await client.ping()
        finally:
            await client.aclose()


async def test_a_killed_master_without_replica_fails_open_until_it_is_back(
    redis_namespace: str,
) -> None:
    """No replica: its slots (and, with full coverage, the cluster) fail; reads fall open to
    the loader, writes are skipped; the restarted node serves again (empty: a cache).
    """
    with PrivateRedisCluster(replicas=0) as cluster:
        client = create_cache_client(_settings(cluster, timeout=0.2), name="cluster-outage")
        try:
            cache = Cache(client, KeyNamespace(redis_namespace, "profile"), pb.UserProfile, ttl=60)
            loader = Loader()
            ids = list(range(30))
            await _serve_until_hits(cache, loader, ids, within=10)

            killed = cluster.kill_master_of(cache.namespace.key(0))
            for _ in range(5):  # down: every round answers, through the loader where needed
                before = loader.calls
                results = await asyncio.gather(*(cache.get_or_load(i, loader(i)) for i in ids))
                assert [r.id for r in results] == ids
                await asyncio.sleep(0.3)
            assert loader.calls > before
            assert not await cache.set(0, pb.UserProfile(id=0))  # a write skipped, not raised

            await asyncio.to_thread(cluster.restart, killed)
            await _serve_until_hits(cache, loader, ids, within=30)
            assert metric_value("svcinfra_cache_breaker_opened_total", client=client.name) >= 1
        finally:
            await client.aclose()
