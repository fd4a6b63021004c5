"""`PostgresDeliveries.add_many` and `OutboxSentEvents.announce_many` on the real database: a
recording group's deliveries in one statement, its announcements in another (PG-1, MQ-3, MQ-4).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import notifkit
import pytest
from notifications.domain.entity import Delivery, NotificationKind
from notifications.domain.service import notification_id
from notifications.mq import load_service_contract
from notifications.repository.postgres.deliveries import PostgresDeliveries
from notifications.repository.postgres.outbox import OutboxSentEvents

from svcinfra.messaging.outbox import Outbox
from svcinfra.postgres import Database, load_queries

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = [pytest.mark.postgres]


def _statements(query: str) -> float:
    return notifkit.counted("svcinfra_db_query_duration_seconds_count", query=query)


def _delivery(source: str, provider: str = "p-1") -> Delivery:
    return Delivery(
        notification_id=notification_id(source),
        source_message_id=source,
        user_id=uuid.uuid4(),
        email=f"{source}@example.com",
        kind=NotificationKind.WELCOME,
        provider_message_id=provider,
        sent_at=datetime(2026, 11, 26, 8, 0, 1, tzinfo=UTC),
    )


async def _fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    con = await asyncpg.connect(dsn)  # another session: it sees committed rows only
    try:
        return list(await con.fetch(query))
    finally:
        await con.close()


async def _intend(dsn: str, *sources: str) -> None:
    con = await asyncpg.connect(dsn)
    try:
        await con.executemany(
            "INSERT INTO mail_intents (source_message_id, idempotency_key) VALUES ($1, $2)",
            [(s, f"welcome-{s}") for s in sources],
        )
    finally:
        await con.close()


@pytest.fixture
async def db(postgres_db) -> AsyncIterator[Database]:
    await notifkit.migrate(postgres_db.dsn)
    database = await Database.connect(postgres_db.settings())
    try:
        yield database
    finally:
        await database.close()


async def test_add_many_records_the_new_ones_in_one_statement_and_skips_the_old(
    postgres_db, db
) -> None:
    """A group of three, one recorded before: one statement, the two new ids returned, the old
    row left as it was, the three intents `sent`."""
    queries = load_queries("notifications")
    old, first, second = (str(uuid.uuid4()) for _ in range(3))
    await _intend(postgres_db.dsn, old, first, second)
    async with db.transaction() as tx:
        assert await PostgresDeliveries(tx, queries).add_many([_delivery(old)]) == {old}
    recorded_before = await _fetch(postgres_db.dsn, "SELECT * FROM deliveries")

    group = [_delivery(second, "p-2"), _delivery(old, "p-again"), _delivery(first, "p-2")]
    before = _statements("deliveries__add_many")
    async with db.transaction() as tx:
        new = await PostgresDeliveries(tx, queries).add_many(group)
    assert _statements("deliveries__add_many") == before + 1
    assert new == {first, second}

    rows = {
        r["source_message_id"]: r for r in await _fetch(postgres_db.dsn, "SELECT * FROM deliveries")
    }
    assert rows[old] == recorded_before[0]  # untouched: same provider id, same recorded_at
    repository = PostgresDeliveries(db, queries)
    for delivery in (group[0], group[2]):
        assert await repository.get_by_source(delivery.source_message_id) == delivery
    intents = await _fetch(postgres_db.dsn, "SELECT * FROM mail_intents")
    assert {(r["source_message_id"], r["state"]) for r in intents} == {
        (old, "sent"),
        (first, "sent"),
        (second, "sent"),
    }
    assert all(r["sent_at"] is not None for r in intents)


async def test_add_many_turns_only_the_given_events_intents_sent(postgres_db, db) -> None:
    """An intent of an event outside the group stays `intended`; a group whose events were all
    recorded before returns no id."""
    queries = load_queries("notifications")
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    await _intend(postgres_db.dsn, mine, other)
    async with db.transaction() as tx:
        assert await PostgresDeliveries(tx, queries).add_many([_delivery(mine)]) == {mine}
    async with db.transaction() as tx:
        assert await PostgresDeliveries(tx, queries).add_many([_delivery(mine)]) == set()
    intents = await _fetch(
        postgres_db.dsn, "SELECT source_message_id, state, sent_at FROM mail_intents"
    )
    states = {r["source_message_id"]: (r["state"], r["sent_at"] is None) for r in intents}
    assert states == {mine: ("sent", False), other: ("intended", True)}


async def test_add_many_of_nothing_runs_no_statement(postgres_db, db) -> None:
    before = _statements("deliveries__add_many")
    async with db.transaction() as tx:
        assert await PostgresDeliveries(tx, load_queries("notifications")).add_many([]) == set()
    assert _statements("deliveries__add_many") == before
    assert await _fetch(postgres_db.dsn, "SELECT * FROM deliveries") == []


async def test_announce_many_writes_one_announcement_per_delivery(postgres_db, db) -> None:
    """One outbox row per delivery of the group: `notification.sent.v1`, its payload, and the
    causing event's id as correlation_id."""
    outbox = Outbox(load_service_contract())
    group = [_delivery(str(uuid.uuid4())) for _ in range(3)]
    async with db.transaction() as tx:
        await OutboxSentEvents(tx, outbox).announce_many(group)
    rows = await _fetch(
        postgres_db.dsn,
        "SELECT message_name, payload, correlation_id FROM svcinfra_outbox",
    )
    assert {r["message_name"] for r in rows} == {"notification.sent.v1"}
    payloads = {r["correlation_id"]: json.loads(r["payload"]) for r in rows}
    assert payloads.keys() == {d.source_message_id for d in group}
    for delivery in group:
        assert payloads[delivery.source_message_id] == {
            "notification_id": str(delivery.notification_id),
            "user_id": str(delivery.user_id),
            "email": delivery.email,
            "kind": "welcome",
            "provider_message_id": "p-1",
            "sent_at": "2026-11-26T08:00:01Z",
        }
