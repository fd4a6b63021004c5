"""The contract's dead-letter queues: list, peek, replay, purge (MQ-10); `svcinfra dlq` runs them.

    for queue in await list_queues(connection, contract): ...
    letters = await peek(connection, "notifications.user-events.dlq", limit=20)
    report = await replay(connection, "notifications.user-events.dlq", message_ids={mid})

A replay republishes to the original exchange and routing key with the original message_id and
a fresh attempt counter; consumers that processed it already drop it by their inbox (MQ-3).
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
