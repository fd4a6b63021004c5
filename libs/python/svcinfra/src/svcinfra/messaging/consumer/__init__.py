"""Consuming the contract's queues: prefetch, inbox idempotency, retry tiers, DLQ (MQ-3, MQ-7..11).

    consumer = Consumer.from_settings(contract, db, config.amqp, name="notifications")
    consumer.on("user.registered.v1", handler)          # async (tx, delivery) -> None
    lifecycle.add_task("consumer", consumer.run, stop=consumer.stop)

A handler settles its message by returning (ack), raising `Retry` (a temporary failure: the
next retry tier) or `Reject` (permanent: the DLQ); any other exception is transient unless the
consumer is told otherwise. A failure raised by (or `from`) an error that says it was refused
before sending (`NotAttempted`: svcinfra.httpclient's `CircuitOpenError` while the breaker is
open) is no attempt: the message is deferred to the tier that waits the refusal's
`retry_after`, uncounted, for at most `max_deferral` seconds (`classify`). Transactional
messages arriving together are settled in one transaction (`batch_size`, `batch_linger`), a
savepoint each, acked after its commit. While it runs, the consumer purges its inbox rows older
than `inbox_retention` (refused at start-up when shorter than the queues' redelivery horizon).
Needs the `postgres` extra (the inbox lives in the service's database).
"""

from ._consumer import Consumer, redelivery_horizon
from ._delivery import Delivery, ErrorClass, Failure
from ._failure import NotAttempted, classify
from ._signals import HandlerSignal, Reject, Retry

__all__ = [
    "Consumer",
    "Delivery",
    "ErrorClass",
    "Failure",
    "HandlerSignal",
    "NotAttempted",
    "Reject",
    "Retry",
    "classify",
    "redelivery_horizon",
]
