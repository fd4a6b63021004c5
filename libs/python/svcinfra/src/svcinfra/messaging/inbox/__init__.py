"""The consumer's inbox: processed message ids in the service's database (MQ-3).

    inbox = Inbox()
    async with db.transaction() as tx:
        if await inbox.add(tx, consumer="notifications", message_id=mid, message_name=name):
            ...  # the effects, in the same transaction

`Consumer` does this for every message; the table ships as a migration in
`svcinfra.messaging.storage`. Needs the `postgres` extra.
"""

from ._inbox import Inbox

__all__ = ["Inbox"]
