"""The profile cache on Redis Cluster (issue 20): built without the near cache, which the
library refuses there, so the service still starts with `REDIS_CLUSTER_NODES`."""

from __future__ import annotations

from users.cache.redis.profiles import RedisProfileCache

from svcinfra.cache import create_cache_client
from svcinfra.config import RedisSettings


async def test_the_near_cache_is_left_out_on_a_cluster() -> None:
    """One server: the near layer as configured; a cluster: none (no I/O in either)."""
    single = create_cache_client(RedisSettings(host="localhost"))
    cluster = create_cache_client(RedisSettings(host="unused", cluster_nodes="r1:7000,r2:7001"))
    try:
        assert RedisProfileCache(single).cache.near is not None
        assert RedisProfileCache(cluster).cache.near is None
    finally:
        await single.aclose()
        await cluster.aclose()
