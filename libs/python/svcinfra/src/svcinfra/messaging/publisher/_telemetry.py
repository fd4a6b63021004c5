"""Metrics, tracer and logger of publishing (MQ-11).

Metrics live in prometheus_client's default registry, which the service's `/metrics` serves.
Labels are bounded by the contract: message name (`user.registered.v1`), exchange, a short
failure or retry reason; never a message id, a routing key pattern from a caller, or a payload.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import structlog
from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from svcinfra.messaging.contract import Publication

PUBLISHED = Counter(
    "svcinfra_amqp_messages_published",
    "Messages handed to the broker (once per message, however many attempts it took).",
    ["message", "exchange"],
)
CONFIRMED = Counter(
    "svcinfra_amqp_messages_confirmed",
    "Messages the broker confirmed (publisher confirm ack).",
    ["message", "exchange"],
)
NACKED = Counter(
    "svcinfra_amqp_messages_nacked",
    "Messages the broker refused responsibility for (basic.nack).",
    ["message", "exchange"],
)
RETURNED = Counter(
    "svcinfra_amqp_messages_returned",
    "Messages the broker returned as unroutable (mandatory, basic.return).",
    ["message", "exchange"],
)
RETRIED = Counter(
    "svcinfra_amqp_publish_retries",
    "Publish attempts repeated after a transient failure, by the failure's reason.",
    ["message", "reason"],
)
FAILED = Counter(
    "svcinfra_amqp_publish_failures",
    "Publish calls that raised, by reason: invalid, unknown_message, returned, nacked, "
    "no_exchange, refused, deadline.",
    ["message", "reason"],
)
DURATION = Histogram(
    "svcinfra_amqp_publish_duration_seconds",
    "Duration of publish calls until the confirm, retries and waits included.",
    ["message"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

BLOCKED = Counter(
    "svcinfra_amqp_publisher_blocked",
    "Periods the broker blocked a publisher's connection (connection.blocked: a memory or disk "
    "alarm); publishes wait for the end of the period, each within its own deadline.",
    ["publisher"],
)
BLOCKED_NOW = Gauge(
    "svcinfra_amqp_publisher_blocked_now",
    "1 while the broker blocks the publisher's connection (connection.blocked), else 0.",
    ["publisher"],
)
CONNECTION_PROBES = Counter(
    "svcinfra_amqp_publisher_connection_probes",
    "Checks of a publisher's connection after a confirm timeout, by outcome: alive (only the "
    "late publishes are retried) or dead (the connection is replaced).",
    ["publisher", "outcome"],
)

TRACER_NAME = "svcinfra.messaging"
LOGGER_NAME = "svcinfra.messaging"

# Bounded label for a name the contract does not know (it comes from the caller).
UNKNOWN_MESSAGE = "<unknown>"


def default_tracer() -> trace.Tracer:
    """Return the tracer of the global provider (configured by `configure_tracing`)."""
    return trace.get_tracer(TRACER_NAME)


class MessageMetrics:
    """The metric children of one message, bound once (label lookups cost on the hot path)."""

    __slots__ = (
        "confirmed",
        "duration",
        "message",
        "nacked",
        "publication",
        "published",
        "returned",
    )

    def __init__(self, publication: Publication) -> None:
        self.publication = publication
        self.message = publication.message.name
        labels = (self.message, publication.exchange.name)
        self.published = PUBLISHED.labels(*labels)
        self.confirmed = CONFIRMED.labels(*labels)
        self.nacked = NACKED.labels(*labels)
        self.returned = RETURNED.labels(*labels)
        self.duration = DURATION.labels(self.message)

    def failed(self, reason: str) -> None:
        FAILED.labels(self.message, reason).inc()

    def retried(self, reason: str) -> None:
        RETRIED.labels(self.message, reason).inc()


def span_attributes(
    publication: Publication, message_id: str, correlation_id: str | None, body: bytes
) -> dict[str, str | int]:
    """The OpenTelemetry messaging attributes of a publish span (MQ-11)."""
    attributes: dict[str, str | int] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": publication.exchange.name,
        "messaging.rabbitmq.destination.routing_key": publication.routing_key,
        "messaging.message.id": message_id,
        "messaging.message.body.size": len(body),
    }
    if correlation_id is not None:
        attributes["messaging.message.conversation_id"] = correlation_id
    return attributes


def debug_logged() -> bool:
    """Whether structlog writes DEBUG lines now (asked per call: logging can be reconfigured).

    The lazy logger proxy costs ~20 us per call even when the level drops the line, as much as
    the rest of the publish bookkeeping; the filtering loggers structlog builds answer this in
    well under a microsecond.
    """
    level_of = getattr(structlog.get_config()["wrapper_class"], "get_effective_level", None)
    try:
        return level_of is None or level_of(None) <= logging.DEBUG
    except (AttributeError, TypeError):  # a wrapper whose level needs a logger instance
        return True
