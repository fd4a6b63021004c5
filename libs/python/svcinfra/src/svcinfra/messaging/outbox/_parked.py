"""The outbox's parked rows: list, show, retry, purge (issue 16); `svcinfra outbox` runs them.

A row is parked by the relay after `max_failures` publishes failed for a reason no retry
changes (its exchange removed, its payload invalid under a changed contract). It stays in
`svcinfra_outbox` with `status = 'parked'`, its last error and its payload, until an operator
sends it again (`retry`: the relay publishes it with its own message_id) or deletes it (`purge`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from svcinfra.messaging._errors import MessagingError
from svcinfra.messaging.storage import queries

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime

    from svcinfra.postgres import Database


@dataclass(frozen=True, slots=True)
class ParkedGroup:
    """The parked rows of one message name: how many, since when."""

    message_name: str
    parked: int
    oldest: datetime
    newest: datetime


@dataclass(frozen=True, slots=True)
class ParkedRow:
    """A parked outbox row with the reason it is parked (its payload only on request)."""

    id: str
    message_name: str
    correlation_id: str | None
    attempts: int
    failures: int
    created_at: datetime
    parked_at: datetime
    last_error: str | None
    payload: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Id:
    id: str


async def parked_summary(db: Database) -> list[ParkedGroup]:
    """Return the parked rows grouped by message name, the longest parked first."""
    return await db.many(queries().query("outbox__parked_summary"), row=ParkedGroup)


async def parked_rows(
    db: Database, *, limit: int = 20, message_name: str | None = None
) -> list[ParkedRow]:
    """Return up to `limit` parked rows (of `message_name` when given), the oldest first."""
    return await db.many(queries().query("outbox__parked"), limit, message_name, row=ParkedRow)


async def retry_parked(
    db: Database,
    *,
    ids: Collection[str] | None = None,
    message_name: str | None = None,
    limit: int | None = None,
) -> list[str]:
    """Hand parked rows back to the relay with a fresh failure count; return their ids.

    Raises:
        MessagingError: an id is not a UUID (the outbox's ids are).
    """
    rows = await db.many(
        queries().query("outbox__retry_parked"),
        _uuids(ids),
        message_name,
        limit,
        row=_Retried,
    )
    return [row.id for row in rows]


@dataclass(frozen=True, slots=True)
class _Retried:
    id: str
    notified: bool


async def purge_parked(
    db: Database, *, ids: Collection[str] | None = None, message_name: str | None = None
) -> list[str]:
    """Delete parked rows for good (the given ids, of the given message, or all); return ids.

    Raises:
        MessagingError: an id is not a UUID (the outbox's ids are).
    """
    rows = await db.many(
        queries().query("outbox__purge_parked"), _uuids(ids), message_name, row=_Id
    )
    return [row.id for row in rows]


def _uuids(ids: Collection[str] | None) -> list[str] | None:
    if ids is None:
        return None
    check_ids(ids)
    return list(ids)


def check_ids(ids: Collection[str]) -> None:
    """Raise MessagingError naming the values of `ids` that are not UUIDs (outbox ids)."""
    bad = []
    for value in ids:
        try:
            uuid.UUID(value)
        except ValueError:
            bad.append(value)
    if bad:
        raise MessagingError(f"not outbox ids (UUIDs): {sorted(bad)}")
