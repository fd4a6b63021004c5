"""The transactional outbox: events written with the change they announce, relayed with confirms.

    outbox = Outbox(contract)
    async with db.transaction() as tx:
        await repository.save(tx, user)
        await outbox.add(tx, "user.registered.v1", payload, correlation_id=request_id)

    relay = Relay.from_settings(db, publisher, config.postgres, **config.outbox_relay.options())
    lifecycle.add_task("outbox-relay", relay.run, stop=relay.stop)
    lifecycle.add_readiness_check("outbox-relay", relay.ready)

With `Outbox(contract, dispatcher=Dispatcher(db, publisher))` the writing process publishes its
own rows right after their commit, and the relay sends only what it could not (a hop less from
the commit to the broker; see `Dispatcher`).

A row whose publish keeps failing for a reason no retry changes is parked after `max_failures`
attempts; `svcinfra outbox list|show|retry|purge` (or the functions below) work on parked rows
as `svcinfra dlq` does on dead letters. The table ships as a migration in
`svcinfra.messaging.storage`. Needs the `postgres` extra.
"""

from ._dispatch import Dispatched, Dispatcher
from ._outbox import Outbox, OutboxMessage
from ._parked import (
    ParkedGroup,
    ParkedRow,
    parked_rows,
    parked_summary,
    purge_parked,
    retry_parked,
)
from ._relay import OutboxRow, Relay
from ._settings import RelaySettings

__all__ = [
    "Dispatched",
    "Dispatcher",
    "Outbox",
    "OutboxMessage",
    "OutboxRow",
    "ParkedGroup",
    "ParkedRow",
    "Relay",
    "RelaySettings",
    "parked_rows",
    "parked_summary",
    "purge_parked",
    "retry_parked",
]
