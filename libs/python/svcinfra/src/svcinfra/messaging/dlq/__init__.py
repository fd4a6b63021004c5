"""The contract's dead-letter queues: list, peek, replay, purge (MQ-10); `svcinfra dlq` runs them.

    for queue in await list_queues(connection, contract): ...
    letters = await peek(connection, "notifications.user-events.dlq", limit=20)
    report = await replay(
        connection, "notifications.user-events.dlq", to_queue="notifications.user-events"
    )

A replay republishes to the queue that dead-lettered the message, and no other (the default
exchange, routing key = the work queue's name), with the original message_id, a fresh attempt
counter and a `replayed-from` header; a consumer that processed it already drops it by its inbox
(MQ-3), and other queues bound to the original routing key never see the copy.
"""

from ._cli import dlq
from ._tool import (
    DeadLetter,
    DeadLetterQueue,
    ReplayReport,
    dead_letter_queue,
    list_queues,
    peek,
    purge,
    replay,
)

__all__ = [
    "DeadLetter",
    "DeadLetterQueue",
    "ReplayReport",
    "dead_letter_queue",
    "dlq",
    "list_queues",
    "peek",
    "purge",
    "replay",
]
