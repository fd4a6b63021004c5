"""Metrics and spans of the database layer (PG-11).

* `svcinfra_db_query_duration_seconds{query}`: histogram, sub-millisecond buckets;
* `svcinfra_db_query_errors_total{query,error}`: errors by domain class (`NotFound` is a result,
  not an error, and is not counted);
* `svcinfra_db_transaction_retries_total{sqlstate}`: transactions re-run after a serialization
  failure (40001) or a deadlock (40P01);
* `svcinfra_db_standby_fallbacks_total{db,reason}`: reads routed to a standby that ran on the
  primary because the standby could not answer;
* `svcinfra_db_pool_{size,idle,in_use,waiting}{db}`: the pool (`<db>-standby` for the standby
  pool), read when scraped;
* a span per query named `DB <query name>` with `db.system.name`, `db.namespace`,
  `db.operation.name` and `db.query.summary`; parameter values are never recorded.

The duration histogram is a custom collector rather than `prometheus_client.Histogram`: the
latter takes a lock per bucket and per sum on every observation (3 us a query on the reference
machine, a tenth of the budget); here a query adds to plain lists from the event loop's thread,
and a scrape copies them.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from typing import TYPE_CHECKING, Protocol

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

DURATION_BUCKETS = (
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
    2.5,
    5.0,
    10.0,
)
_LE = [*(repr(bound) for bound in DURATION_BUCKETS), "+Inf"]

QUERY_ERRORS = Counter(
    "svcinfra_db_query_errors_total",
    "Named queries that failed, by the domain error class they raised (PG-11).",
    ["query", "error"],
)

TRANSACTION_RETRIES = Counter(
    "svcinfra_db_transaction_retries_total",
    "Transactions re-run after a serialization failure or a deadlock (PG-11).",
    ["sqlstate"],
)

STANDBY_FALLBACKS = Counter(
    "svcinfra_db_standby_fallbacks_total",
    "Reads declared `-- route: standby` that ran on the primary because the standby pool could "
    "not answer (reason: the SQLSTATE, or unavailable).",
    ["db", "reason"],
)


class Durations:
    """The duration histogram of one query name; `observe` is called from the event loop only."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Count one query that took `seconds`."""
        self.counts[bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total += seconds


class PoolStats(Protocol):
    """What the collector reads from a `Database` for the pool gauges."""

    @property
    def stats_name(self) -> str:
        """The `db` label."""
        ...

    def pool_stats(self) -> tuple[int, int, int, int]:
        """Size, idle, in use, waiting."""
        ...


_POOL_GAUGES = (
    ("size", "Connections the pool holds open (PG-5)."),
    ("idle", "Open connections nobody uses (PG-5)."),
    ("in_use", "Connections lent to a query or a transaction (PG-5)."),
    ("waiting", "Queries waiting for a free connection (PG-5)."),
)


class _Collector:
    """Reads query durations and the live pools' gauges at scrape time."""

    def __init__(self) -> None:
        self.durations: dict[str, Durations] = {}
        self.pools: weakref.WeakSet[PoolStats] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        histogram = HistogramMetricFamily(
            "svcinfra_db_query_duration_seconds",
            "Time a named query took, from asking for a connection to its last row (PG-11).",
            labels=["query"],
        )
        for name, durations in list(self.durations.items()):
            counts, total = list(durations.counts), durations.total
            cumulative, buckets = 0, []
            for le, count in zip(_LE, counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            histogram.add_metric([name], buckets, total)
        yield histogram
        families = [
            GaugeMetricFamily(f"svcinfra_db_pool_{what}", help_text, labels=["db"])
            for what, help_text in _POOL_GAUGES
        ]
        for pool in list(self.pools):
            for family, value in zip(families, pool.pool_stats(), strict=True):
                family.add_metric([pool.stats_name], value)
        yield from families


_COLLECTOR = _Collector()
_registered = False
_lock = threading.Lock()


def _register() -> None:
    global _registered  # noqa: PLW0603  (one collector per process, registered on first use)
    with _lock:
        if not _registered:
            REGISTRY.register(_COLLECTOR)
            _registered = True


def durations_of(query: str) -> Durations:
    """Return the histogram of the query named `query`, creating it on first use."""
    found = _COLLECTOR.durations.get(query)
    if found is None:
        _register()
        found = _COLLECTOR.durations.setdefault(query, Durations())
    return found


def watch_pool(pool: PoolStats) -> None:
    """Report `pool`'s gauges until it is garbage-collected or `unwatch_pool` is called."""
    _register()
    _COLLECTOR.pools.add(pool)


def unwatch_pool(pool: PoolStats) -> None:
    """Stop reporting `pool`'s gauges (it was closed)."""
    _COLLECTOR.pools.discard(pool)
