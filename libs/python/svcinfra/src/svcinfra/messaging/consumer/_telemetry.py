"""Metrics of consuming (MQ-11), in prometheus_client's default registry.

Labels are bounded: the contract's message names (`<unknown>` for anything else), the contract's
queues, outcomes and failure types named by code, never a message id or a payload value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from svcinfra.messaging import headers as hdr

if TYPE_CHECKING:
    from prometheus_client.metrics import MetricWrapperBase

UNKNOWN = "<unknown>"

M = TypeVar("M", bound="MetricWrapperBase")


class Children(Generic[M]):
    """The labelled children of one metric, cached: `labels()` costs ~5 us a call, a hit ~0.1.

    The label values are bounded (see above), so the cache is too.
    """

    __slots__ = ("_cache", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._cache: dict[tuple[str, ...], M] = {}

    def __call__(self, *labels: str) -> M:
        """Return the child of `labels`, as `metric.labels(*labels)` would."""
        child = self._cache.get(labels)
        if child is None:
            child = self._cache[labels] = self._metric.labels(*labels)
        return child


CONSUMED = Counter(
    "svcinfra_amqp_messages_consumed",
    "Deliveries taken from a queue (redeliveries and retries included).",
    ["message", "queue"],
)
ACKED = Counter(
    "svcinfra_amqp_messages_acked",
    "Deliveries acked after processing; outcome: processed or duplicate (no effect, MQ-3).",
    ["message", "queue", "outcome"],
)
RETRIED = Counter(
    "svcinfra_amqp_messages_retried",
    "Deliveries sent to a retry tier after a temporary failure, by failure type (MQ-9).",
    ["message", "queue", "reason"],
)
DEAD_LETTERED = Counter(
    "svcinfra_amqp_messages_dead_lettered",
    "Deliveries sent to the DLQ, by failure type (MQ-9, MQ-10).",
    ["message", "queue", "reason"],
)
DEFERRED = Counter(
    "svcinfra_amqp_messages_deferred",
    "Deliveries sent to a retry tier uncounted: the handler's call was refused before sending "
    "(an open circuit breaker); reason: the refusing error's type (MQ-9).",
    ["message", "queue", "reason"],
)
REQUEUED = Counter(
    "svcinfra_amqp_messages_requeued",
    "Deliveries returned to their queue unprocessed (shutdown, a failed republish).",
    ["queue"],
)
HANDLER_DURATION = Histogram(
    "svcinfra_amqp_handler_duration_seconds",
    "Duration of handlers, inbox and transaction included, by outcome.",
    ["message", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
DELIVERY_LAG = Histogram(
    "svcinfra_amqp_delivery_lag_seconds",
    "Seconds from an outbox row's commit (the relay's outbox-committed-at header) to the start"
    " of its first delivery's processing, by queue.",
    ["queue"],
    buckets=hdr.COMMIT_LAG_BUCKETS,
)
IN_FLIGHT = Gauge(
    "svcinfra_amqp_messages_in_flight",
    "Deliveries being processed now (at most the queue's prefetch).",
    ["queue"],
)
QUEUE_MESSAGES = Gauge(
    "svcinfra_amqp_queue_messages",
    "Messages ready in a queue (work, wait and dead-letter queues), sampled by passive declare.",
    ["queue"],
)
QUEUE_CONSUMERS = Gauge(
    "svcinfra_amqp_queue_consumers",
    "Consumers of a queue, sampled by passive declare.",
    ["queue"],
)

# The per-message ones, looked up through a cache.
consumed = Children(CONSUMED)
acked = Children(ACKED)
handler_duration = Children(HANDLER_DURATION)
in_flight = Children(IN_FLIGHT)

INBOX_PURGED = Counter(
    "svcinfra_amqp_inbox_purged",
    "Inbox rows older than the consumer's retention deleted by its purge job.",
    ["consumer"],
)

BATCH_SIZE = Histogram(
    "svcinfra_amqp_inbox_batch_size",
    "Messages settled by one batched inbox transaction (MQ-3), by queue.",
    ["queue"],
    buckets=(1, 2, 5, 10, 20, 35, 50, 64),
)
BATCHES_FAILED = Counter(
    "svcinfra_amqp_inbox_batches_failed",
    "Batched inbox transactions that failed as a whole (their messages requeued, none acked).",
    ["queue"],
)
RECORD_GROUP_SIZE = Histogram(
    "svcinfra_amqp_record_group_size",
    "External-mode messages recorded by one grouped transaction (a group commit, MQ-3).",
    ["consumer"],
    buckets=(2, 5, 10, 20, 35, 50, 64),
)
RECORD_GROUPS_REDONE = Counter(
    "svcinfra_amqp_record_groups_redone",
    "Grouped recording transactions that failed and were redone message by message.",
    ["consumer"],
)
