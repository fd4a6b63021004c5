"""create_cache_client: each redis-py 8 default that matters to a cache comes from settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from svcinfra.cache import Cache, KeyNamespace, TTLError, create_cache_client
from svcinfra.config import RedisSettings


async def test_pool_takes_timeouts_size_and_retries_from_settings() -> None:
    """Short socket timeouts, a bounded pool wait and retries only after broken connections."""
    settings = RedisSettings(
        host="10.0.0.9",
        port=6380,
        db=3,
        password=SecretStr("s3cr3t"),
        socket_timeout=0.2,
        connect_timeout=0.3,
        max_connections=7,
        pool_timeout=0.05,
        retries=2,
    )

    client = create_cache_client(settings, name="users-cache")
    pool = client.redis.connection_pool
    kwargs = pool.connection_kwargs
    retry = kwargs["retry"]

    assert isinstance(pool, BlockingConnectionPool)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("10.0.0.9", 6380, 3)
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.2, 0.3)
    assert (pool.max_connections, pool.timeout) == (7, 0.05)
    assert retry._retries == 2
    assert RedisConnectionError in retry._supported_errors
    assert RedisTimeoutError not in retry._supported_errors  # a retried timeout doubles the wait
    assert kwargs["health_check_interval"] == 0
    assert "s3cr3t" not in repr(pool)
    assert "s3cr3t" not in repr(client)
    assert client.pool_stats() == (0, 0, 7)  # nothing connected: no I/O at construction
    await client.aclose()


async def test_breaker_and_ttl_bound_come_from_settings() -> None:
    """The breaker thresholds and the TTL upper bound are the settings' values."""
    settings = RedisSettings(host="h", breaker_failures=9, breaker_cooldown=2.5, max_ttl=3600)

    client = create_cache_client(settings)

    assert (client.breaker.failures, client.breaker.cooldown) == (9, 2.5)
    with pytest.raises(TTLError, match="3600"):
        Cache(client, KeyNamespace("user", "profile"), _message(), ttl=3601)
    await client.aclose()


def _message() -> type:
    from google.protobuf import empty_pb2  # noqa: PLC0415  (any message class will do)

    return empty_pb2.Empty


async def test_sentinels_route_the_pool_through_redis_py_sentinel() -> None:
    """REDIS_SENTINELS: redis-py's sentinel pool, still blocking, with the same timeouts."""
    settings = RedisSettings(
        host="unused",
        sentinels="s1:26379, s2:26380,s3",
        sentinel_master="cache",
        socket_timeout=0.2,
        connect_timeout=0.3,
        max_connections=7,
        pool_timeout=0.05,
        db=2,
    )

    client = create_cache_client(settings, name="users-cache")
    pool = client.redis.connection_pool
    kwargs = pool.connection_kwargs

    assert isinstance(pool, SentinelConnectionPool)
    assert isinstance(pool, BlockingConnectionPool)  # a burst waits pool_timeout, as before
    assert pool.service_name == "cache"
    assert pool.is_master
    assert "host" not in kwargs  # REDIS_HOST is not dialled
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"], kwargs["db"]) == (
        0.2,
        0.3,
        2,
    )
    assert (pool.max_connections, pool.timeout) == (7, 0.05)
    sentinels = pool.sentinel_manager.sentinels
    assert [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in sentinels
    ] == [("s1", 26379), ("s2", 26380), ("s3", 26379)]
    assert sentinels[0].connection_pool.connection_kwargs["socket_timeout"] == 0.2
    assert client.pool_stats() == (0, 0, 7)  # no I/O at construction
    await client.aclose()


async def test_cluster_nodes_make_a_redis_cluster_client_with_the_same_timeouts() -> None:
    """REDIS_CLUSTER_NODES: redis-py's RedisCluster from those nodes, short timeouts, no I/O."""
    settings = RedisSettings(
        host="unused",
        cluster_nodes="r1:7000, r2:7001,r3",
        socket_timeout=0.2,
        connect_timeout=0.3,
        max_connections=7,
        retries=2,
    )

    client = create_cache_client(settings, name="users-cache")

    redis = client.redis
    assert isinstance(redis, RedisCluster)
    assert client.cluster
    assert [(n.host, n.port) for n in redis.startup_nodes] == [
        ("r1", 7000),
        ("r2", 7001),
        ("r3", 6379),
    ]
    kwargs = redis.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.2, 0.3)
    assert (kwargs["max_connections"], kwargs["client_name"]) == (7, "users-cache")
    assert redis.retry.get_retries() == 2
    assert client.pool_stats() == (0, 0, 0)  # no I/O yet: no node known before the slot map
    await client.aclose()


async def test_a_single_host_client_is_not_a_cluster() -> None:
    """The default stays one server at REDIS_HOST."""
    client = create_cache_client(RedisSettings(host="localhost"))
    assert not client.cluster
    await client.aclose()
