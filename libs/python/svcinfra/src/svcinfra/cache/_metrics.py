"""Prometheus metrics of the cache (RD-7), labelled by namespace or client, never by key."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

# Redis answers in tens to hundreds of microseconds on a LAN: the default buckets start at 5 ms.
REDIS_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
LOADER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LOOKUPS = Counter(
    "svcinfra_cache_lookups",
    "Cache reads by namespace and result: hit, miss, negative_hit, error, skipped (breaker open).",
    ["namespace", "result"],
)
ERRORS = Counter(
    "svcinfra_cache_errors",
    "Redis operations that failed (timeout, connection) and were absorbed (RD-1).",
    ["namespace", "operation"],
)
DECODE_ERRORS = Counter(
    "svcinfra_cache_decode_errors",
    "Values that did not decode as the namespace's message; each was deleted and missed.",
    ["namespace"],
)
OPERATION_SECONDS = Histogram(
    "svcinfra_cache_operation_seconds",
    "Redis round trips of the cache, by command (a batched read is one mget).",
    ["operation"],
    buckets=REDIS_BUCKETS,
)
LOADER_SECONDS = Histogram(
    "svcinfra_cache_loader_seconds",
    "Time spent in loaders (the source of truth) on misses and early refreshes.",
    ["namespace"],
    buckets=LOADER_BUCKETS,
)
SHARED_CALLS = Counter(
    "svcinfra_cache_singleflight_shared",
    "Callers that joined a load already in flight in this process instead of calling the loader.",
    ["namespace"],
)
LOCKS = Counter(
    "svcinfra_cache_lock",
    "Fill locks by outcome: acquired, contended, timeout (waited, then loaded), lost.",
    ["namespace", "outcome"],
)
LOCK_WAIT_SECONDS = Histogram(
    "svcinfra_cache_lock_wait_seconds",
    "Time a caller waited for another process to fill a key.",
    ["namespace"],
    buckets=LOADER_BUCKETS,
)
EARLY_REFRESHES = Counter(
    "svcinfra_cache_early_refreshes",
    "Probabilistic early refreshes (XFetch) started before a hot key expired.",
    ["namespace"],
)
NEAR_EVENTS = Counter(
    "svcinfra_cache_near",
    "Near cache (in-process layer) events: hit, fill, invalidated (a key Redis reported "
    "changed), evicted (LRU), expired (its Redis TTL ran out), flush (everything dropped: "
    "tracking lost, Redis restarted or flushed).",
    ["namespace", "event"],
)
NEAR_TRACKING = Gauge(
    "svcinfra_cache_near_tracking",
    "Whether the near cache's tracking connection receives invalidations (1) or not (0: the "
    "near layer is bypassed).",
    ["namespace"],
)
BREAKER_STATE = Gauge(
    "svcinfra_cache_breaker_state",
    "State of the Redis breaker: 0 closed, 1 half-open, 2 open (Redis skipped).",
    ["client"],
)
BREAKER_OPENED = Counter(
    "svcinfra_cache_breaker_opened",
    "Times the Redis breaker opened after repeated failures.",
    ["client"],
)
KEYS = Gauge(
    "svcinfra_cache_keys",
    "Keys per namespace, counted by a rare SCAN (sampled, approximate).",
    ["namespace"],
)
DB_KEYS = Gauge(
    "svcinfra_cache_db_keys",
    "Keys in the client's Redis database, from INFO keyspace (sampled).",
    ["client", "db"],
)


class PoolSource(Protocol):
    """What the pool collector reads from a live cache client."""

    @property
    def name(self) -> str:
        """The client label."""
        ...

    def pool_stats(self) -> tuple[int, int, int]:
        """Return (in use, idle, max) connections."""
        ...


class _PoolCollector:
    """Reads pool sizes at scrape time, so the hot path pays nothing for these gauges."""

    def __init__(self) -> None:
        self.sources: weakref.WeakSet[PoolSource] = weakref.WeakSet()

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "svcinfra_cache_pool_connections",
            "Connections of the cache client's pool by state: in_use or idle.",
            labels=["client", "state"],
        )
        limit = GaugeMetricFamily(
            "svcinfra_cache_pool_max_connections",
            "Size limit of the cache client's pool.",
            labels=["client"],
        )
        for source in list(self.sources):
            in_use, idle, most = source.pool_stats()
            connections.add_metric([source.name, "in_use"], in_use)
            connections.add_metric([source.name, "idle"], idle)
            limit.add_metric([source.name], most)
        yield connections
        yield limit


POOLS = _PoolCollector()
REGISTRY.register(POOLS)
