"""The AMQP header names svcinfra writes and reads, in one place for publisher and consumer.

None starts with `x-`: RabbitMQ 3.13+ treats `x-*` headers as broker-owned (and 4.0 ignores a
client's `x-death`), so the application's own facts live in plain names. Properties that AMQP
already has are used as such, not copied into headers: `message_id` (always set, MQ-6),
`correlation_id` (set when the message is part of a chain), `type` (the contract's message name,
`user.registered.v1`), `content_type` (`application/json`), `delivery_mode` (2, persistent) and
`timestamp`.

Written by the publisher on every message:

* `message-version` (int): the message's version, also the `vN` suffix of its name and routing key
  (MQ-2);
* `traceparent` / `tracestate`: W3C trace context of the publish span (MQ-11).

Written by the outbox relay (`svcinfra.messaging.outbox.Relay`) on every message it publishes:

* `outbox-committed-at` (int): the outbox row's `created_at` (its transaction's start, close to
  its commit), in microseconds since the epoch (an AMQP float has 32 bits: seconds would be
  rounded to minutes); the consumer's `svcinfra_amqp_delivery_lag_seconds`
  measures from it to a first delivery's handler start (issue 19). A message published without
  the outbox carries none; a caller cannot write it (`Publisher.publish(committed_at=...)` does).

Written by the consumer when it sends a message to a retry tier or a DLQ (MQ-9, MQ-10):

* `retry-count` (int): retries already made; absent on the first delivery, so attempt =
  `retry-count` + 1. The broker's `x-death` counts are only a cross-check;
* `error-class`: `transient` or `permanent`;
* `error-type`: the exception's class name (`Retry`, `Reject` for the handler's signals), or
  `invalid-json`, `schema-violation`, `unknown-type`, `unknown-version`, `wrong-content-type`,
  `oversized`, `missing-message-id`, `attempts-exhausted`;
* `error-message`: the reason, truncated to `ERROR_MESSAGE_LIMIT` characters, no payload values;
* `failed-at`: ISO 8601 UTC time of the failure;
* `original-exchange` / `original-routing-key`: where the message was first published;
* `consumer`: the consumer's name (also the inbox's `consumer` column);
* `attempts` (int): deliveries made in all, on a message sent to the DLQ;
* `deferred-since`: ISO 8601 UTC time the message was first deferred, not attempted because a
  dependency refused it before sending (an open circuit breaker); its deferrals end
  `max_deferral` seconds after it (then the DLQ, `deferred-too-long`);
* `deferrals` (int): how often it was deferred; a deferral leaves `retry-count` as it was.

Written by a DLQ replay (`svcinfra dlq replay`), which sends the message to the queue that
dead-lettered it only (issue 16):

* `replayed-from`: the DLQ it was taken from;
* `replayed-at`: ISO 8601 UTC time of the replay.
"""

from __future__ import annotations

from typing import Final

MESSAGE_VERSION: Final = "message-version"
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
RETRY_COUNT: Final = "retry-count"
ERROR_CLASS: Final = "error-class"
ERROR_TYPE: Final = "error-type"
ERROR_MESSAGE: Final = "error-message"
FAILED_AT: Final = "failed-at"
ORIGINAL_EXCHANGE: Final = "original-exchange"
ORIGINAL_ROUTING_KEY: Final = "original-routing-key"
CONSUMER: Final = "consumer"
ATTEMPTS: Final = "attempts"
DEFERRED_SINCE: Final = "deferred-since"
DEFERRALS: Final = "deferrals"
REPLAYED_FROM: Final = "replayed-from"
REPLAYED_AT: Final = "replayed-at"
OUTBOX_COMMITTED_AT: Final = "outbox-committed-at"
# The buckets of the two histograms timed from that instant: the relay's claim lag and the
# consumer's delivery lag (fine below 50 ms, where the pipeline's target lies).
COMMIT_LAG_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
)  # fmt: skip

ERROR_MESSAGE_LIMIT: Final = 512

# A caller's extra headers may not use these names: they would lie about the message.
RESERVED: Final = frozenset(
    {
        MESSAGE_VERSION,
        TRACEPARENT,
        TRACESTATE,
        RETRY_COUNT,
        ERROR_CLASS,
        ERROR_TYPE,
        ERROR_MESSAGE,
        FAILED_AT,
        ORIGINAL_EXCHANGE,
        ORIGINAL_ROUTING_KEY,
        CONSUMER,
        ATTEMPTS,
        DEFERRED_SINCE,
        DEFERRALS,
        REPLAYED_FROM,
        REPLAYED_AT,
        OUTBOX_COMMITTED_AT,
    },
)
