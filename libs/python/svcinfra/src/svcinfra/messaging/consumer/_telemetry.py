"""Metrics of consuming (MQ-11), in prometheus_client's default registry.

Labels are bounded: the contract's message names (`<unknown>` for anything else), the contract's
queues, outcomes and failure types named by code, never a message id or a payload value.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UNKNOWN = "<unknown>"

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
