"""Every metric svcinfra emits, as a scrape shows it (counters end in `_total`).

The rules and dashboards may use only these, the service's own HTTP histogram, Prometheus's
`up`, and the recording rules they define; a unit test keeps this list equal to what the
library registers (PG-11, RD-7, MQ-11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric family: its exposed name, its type and its labels."""

    name: str
    kind: Kind
    labels: tuple[str, ...]

    def series_names(self) -> tuple[str, ...]:
        """The sample names a scrape has for this family."""
        if self.kind == "histogram":
            return tuple(f"{self.name}_{s}" for s in ("bucket", "count", "sum"))
        return (self.name,)


def _m(name: str, kind: Kind, *labels: str) -> Metric:
    return Metric(name, kind, labels)


LIBRARY_METRICS: tuple[Metric, ...] = (
    # the service plumbing (svcinfra.app)
    _m("service_info", "gauge", "service", "env", "svcinfra_version"),
    _m("service_ready", "gauge"),
    _m("service_readiness_check_up", "gauge", "check"),
    # The database layer (PG-5, PG-11).
    _m("svcinfra_db_query_duration_seconds", "histogram", "query"),
    _m("svcinfra_db_query_errors_total", "counter", "query", "error"),
    _m("svcinfra_db_transaction_retries_total", "counter", "sqlstate"),
    _m("svcinfra_db_standby_fallbacks_total", "counter", "db", "reason"),
    _m("svcinfra_db_pool_size", "gauge", "db"),
    _m("svcinfra_db_pool_idle", "gauge", "db"),
    _m("svcinfra_db_pool_in_use", "gauge", "db"),
    _m("svcinfra_db_pool_waiting", "gauge", "db"),
    # the cache (RD-7)
    _m("svcinfra_cache_lookups_total", "counter", "namespace", "result"),
    _m("svcinfra_cache_errors_total", "counter", "namespace", "operation"),
    _m("svcinfra_cache_decode_errors_total", "counter", "namespace"),
    _m("svcinfra_cache_operation_seconds", "histogram", "operation"),
    _m("svcinfra_cache_loader_seconds", "histogram", "namespace"),
    _m("svcinfra_cache_singleflight_shared_total", "counter", "namespace"),
    _m("svcinfra_cache_lock_total", "counter", "namespace", "outcome"),
    _m("svcinfra_cache_lock_wait_seconds", "histogram", "namespace"),
    _m("svcinfra_cache_early_refreshes_total", "counter", "namespace"),
    _m("svcinfra_cache_breaker_state", "gauge", "client"),
    _m("svcinfra_cache_breaker_opened_total", "counter", "client"),
    _m("svcinfra_cache_keys", "gauge", "namespace"),
    _m("svcinfra_cache_db_keys", "gauge", "client", "db"),
    _m("svcinfra_cache_pool_connections", "gauge", "client", "state"),
    _m("svcinfra_cache_pool_max_connections", "gauge", "client"),
    _m("svcinfra_cache_near_total", "counter", "namespace", "event"),
    _m("svcinfra_cache_near_tracking", "gauge", "namespace"),
    # publishing and the outbox (MQ-4, MQ-11)
    _m("svcinfra_amqp_messages_published_total", "counter", "message", "exchange"),
    _m("svcinfra_amqp_messages_confirmed_total", "counter", "message", "exchange"),
    _m("svcinfra_amqp_messages_nacked_total", "counter", "message", "exchange"),
    _m("svcinfra_amqp_messages_returned_total", "counter", "message", "exchange"),
    _m("svcinfra_amqp_publish_retries_total", "counter", "message", "reason"),
    _m("svcinfra_amqp_publish_failures_total", "counter", "message", "reason"),
    _m("svcinfra_amqp_publish_duration_seconds", "histogram", "message"),
    _m("svcinfra_amqp_publisher_blocked_total", "counter", "publisher"),
    _m("svcinfra_amqp_publisher_blocked_now", "gauge", "publisher"),
    _m("svcinfra_amqp_publisher_connection_probes_total", "counter", "publisher", "outcome"),
    _m("svcinfra_amqp_outbox_relayed_total", "counter", "message"),
    _m("svcinfra_amqp_outbox_failures_total", "counter", "message", "reason"),
    _m("svcinfra_amqp_outbox_parked_total", "counter", "message", "reason"),
    _m("svcinfra_amqp_outbox_relay_restarts_total", "counter", "reason"),
    _m("svcinfra_amqp_outbox_pending", "gauge"),
    _m("svcinfra_amqp_outbox_lag_seconds", "histogram"),
    _m("svcinfra_amqp_outbox_claim_lag_seconds", "histogram"),
    _m("svcinfra_amqp_outbox_dispatched_total", "counter", "message"),
    _m("svcinfra_amqp_outbox_handed_back_total", "counter", "message", "reason"),
    # The consumer (MQ-7, MQ-9, MQ-10, MQ-11).
    _m("svcinfra_amqp_messages_consumed_total", "counter", "message", "queue"),
    _m("svcinfra_amqp_messages_acked_total", "counter", "message", "queue", "outcome"),
    _m("svcinfra_amqp_messages_retried_total", "counter", "message", "queue", "reason"),
    _m("svcinfra_amqp_messages_dead_lettered_total", "counter", "message", "queue", "reason"),
    _m("svcinfra_amqp_messages_deferred_total", "counter", "message", "queue", "reason"),
    _m("svcinfra_amqp_messages_requeued_total", "counter", "queue"),
    _m("svcinfra_amqp_handler_duration_seconds", "histogram", "message", "outcome"),
    _m("svcinfra_amqp_delivery_lag_seconds", "histogram", "queue"),
    _m("svcinfra_amqp_messages_in_flight", "gauge", "queue"),
    _m("svcinfra_amqp_queue_messages", "gauge", "queue"),
    _m("svcinfra_amqp_queue_consumers", "gauge", "queue"),
    _m("svcinfra_amqp_inbox_purged_total", "counter", "consumer"),
    _m("svcinfra_amqp_inbox_batch_size", "histogram", "queue"),
    _m("svcinfra_amqp_inbox_batches_failed_total", "counter", "queue"),
    _m("svcinfra_amqp_record_group_size", "histogram", "consumer"),
    _m("svcinfra_amqp_record_groups_redone_total", "counter", "consumer"),
    # external APIs
    _m(
        "svcinfra_http_client_call_duration_seconds",
        "histogram",
        "adapter",
        "method",
        "route",
        "status_class",
    ),
    _m("svcinfra_http_client_retries_total", "counter", "adapter", "route", "reason"),
    _m("svcinfra_http_client_circuit_state", "gauge", "adapter"),
    _m("svcinfra_http_client_circuit_transitions_total", "counter", "adapter", "state"),
    _m("svcinfra_http_client_rate_limit_wait_seconds", "histogram", "adapter"),
)

# What Prometheus adds to every target.
SCRAPE_SERIES = ("up",)


def known_series(extra: tuple[Metric, ...] = ()) -> frozenset[str]:
    """Every sample name the library (and `extra`) exposes, plus Prometheus's own."""
    return frozenset(
        [*(n for m in (*LIBRARY_METRICS, *extra) for n in m.series_names()), *SCRAPE_SERIES]
    )
