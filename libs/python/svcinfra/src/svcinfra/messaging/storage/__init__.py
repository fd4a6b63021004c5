"""The outbox and inbox tables in the service's own database: migrations and named queries.

The tables ship as goose migrations in package data. A service includes them in its own
migration folder (`<pkg>/cli/migrations/`) with versions newer than its existing files so that
goose applies them in order; run it again after an upgrade to add only the new ones (such as
`svcinfra_outbox_parking`, the relay's parked rows):

    from svcinfra.messaging.storage import write_migrations
    write_migrations(Path("users/cli/migrations"))   # <stamp>_svcinfra_outbox.sql, ..._inbox.sql

(a service without a consumer deletes the inbox file), or by copying `migrations/*.sql` from
this package and renaming them with `svcinfra migrate create`-style timestamps. The queries the
library runs on them are named `.sql` files here too (PG-10), loaded once by `queries()`.
"""

from ._files import (
    INBOX_TABLE,
    NOTIFY_CHANNEL,
    OUTBOX_TABLE,
    migrations,
    queries,
    write_migrations,
)

__all__ = [
    "INBOX_TABLE",
    "NOTIFY_CHANNEL",
    "OUTBOX_TABLE",
    "migrations",
    "queries",
    "write_migrations",
]
