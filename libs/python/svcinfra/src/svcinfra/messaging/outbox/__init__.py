"""The transactional outbox: events written with the change they announce, relayed with confirms.

    outbox = Outbox(contract)
    async with db.transaction() as tx:
        await repository.save(tx, user)
        await outbox.add(tx, "user.registered.v1", payload, correlation_id=request_id)

    relay = Relay.from_settings(db, publisher, config.postgres)
    lifecycle.add_task("outbox-relay", relay.run, stop=relay.stop)

The table ships as a migration in `svcinfra.messaging.storage`. Needs the `postgres` extra.
"""

from ._outbox import Outbox
from ._relay import OutboxRow, Relay

__all__ = ["Outbox", "OutboxRow", "Relay"]
